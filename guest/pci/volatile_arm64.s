#include "textflag.h"

// As Linux's readX/writeX on arm64 (arch/arm64/include/asm/io.h): a load is followed by
// dmb oshld, so later reads of DMA memory are not satisfied before it; a store is preceded by
// dmb oshst, so earlier writes to DMA memory reach the device before it sees the store.
// DMB option encodings: OSHLD = 1, OSHST = 2.

// func load8(p unsafe.Pointer) uint8
TEXT ·load8(SB), NOSPLIT, $0-9
	MOVD	p+0(FP), R0
	MOVBU	(R0), R1
	DMB	$1
	MOVB	R1, ret+8(FP)
	RET

// func load16(p unsafe.Pointer) uint16
TEXT ·load16(SB), NOSPLIT, $0-10
	MOVD	p+0(FP), R0
	MOVHU	(R0), R1
	DMB	$1
	MOVH	R1, ret+8(FP)
	RET

// func load32(p unsafe.Pointer) uint32
TEXT ·load32(SB), NOSPLIT, $0-12
	MOVD	p+0(FP), R0
	MOVWU	(R0), R1
	DMB	$1
	MOVW	R1, ret+8(FP)
	RET

// func store8(p unsafe.Pointer, v uint8)
TEXT ·store8(SB), NOSPLIT, $0-9
	MOVD	p+0(FP), R0
	MOVBU	v+8(FP), R1
	DMB	$2
	MOVB	R1, (R0)
	RET

// func store16(p unsafe.Pointer, v uint16)
TEXT ·store16(SB), NOSPLIT, $0-10
	MOVD	p+0(FP), R0
	MOVHU	v+8(FP), R1
	DMB	$2
	MOVH	R1, (R0)
	RET

// func store32(p unsafe.Pointer, v uint32)
TEXT ·store32(SB), NOSPLIT, $0-12
	MOVD	p+0(FP), R0
	MOVWU	v+8(FP), R1
	DMB	$2
	MOVW	R1, (R0)
	RET
