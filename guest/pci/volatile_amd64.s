#include "textflag.h"

// x86 keeps uncached MMIO accesses in program order, so plain moves suffice.

// func load8(p unsafe.Pointer) uint8
TEXT ·load8(SB), NOSPLIT, $0-9
	MOVQ	p+0(FP), AX
	MOVBLZX	(AX), BX
	MOVB	BX, ret+8(FP)
	RET

// func load16(p unsafe.Pointer) uint16
TEXT ·load16(SB), NOSPLIT, $0-10
	MOVQ	p+0(FP), AX
	MOVWLZX	(AX), BX
	MOVW	BX, ret+8(FP)
	RET

// func load32(p unsafe.Pointer) uint32
TEXT ·load32(SB), NOSPLIT, $0-12
	MOVQ	p+0(FP), AX
	MOVL	(AX), BX
	MOVL	BX, ret+8(FP)
	RET

// func store8(p unsafe.Pointer, v uint8)
TEXT ·store8(SB), NOSPLIT, $0-9
	MOVQ	p+0(FP), AX
	MOVB	v+8(FP), BX
	MOVB	BX, (AX)
	RET

// func store16(p unsafe.Pointer, v uint16)
TEXT ·store16(SB), NOSPLIT, $0-10
	MOVQ	p+0(FP), AX
	MOVW	v+8(FP), BX
	MOVW	BX, (AX)
	RET

// func store32(p unsafe.Pointer, v uint32)
TEXT ·store32(SB), NOSPLIT, $0-12
	MOVQ	p+0(FP), AX
	MOVL	v+8(FP), BX
	MOVL	BX, (AX)
	RET
