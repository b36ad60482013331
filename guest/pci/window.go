package pci

import "unsafe"

// Window is a device's register region mapped into memory, a BAR from [Device.BAR]. It
// implements the Read/Write methods of virtio.Registers with single accesses of the width
// named (see the package documentation on register access). An access that is outside the
// window or not naturally aligned reads as all ones and writes nothing: arm64 faults on an
// unaligned access to device memory, and nothing outside the BAR is the device's. Methods do
// not allocate and are safe for concurrent use as far as the device allows.
type Window struct {
	base unsafe.Pointer
	size uintptr
}

// NewWindow returns a window over mem, which must stay valid (mapped, or referenced) while the
// window is used. Device.BAR passes a mapping of a BAR; tests pass ordinary memory.
func NewWindow(mem []byte) *Window {
	return &Window{base: unsafe.Pointer(unsafe.SliceData(mem)), size: uintptr(len(mem))}
}

// Size returns the window's length in bytes.
func (w *Window) Size() uint64 { return uint64(w.size) }

// ok reports whether an access of n bytes (a power of two) at off is inside and aligned.
func (w *Window) ok(off uint32, n uintptr) bool {
	return uintptr(off)&(n-1) == 0 && uintptr(off) <= w.size && n <= w.size-uintptr(off)
}

// Read8 reads the byte register at off.
func (w *Window) Read8(off uint32) uint8 {
	if !w.ok(off, 1) {
		return 0xff
	}
	return load8(unsafe.Add(w.base, off))
}

// Read16 reads the little-endian 16-bit register at off.
func (w *Window) Read16(off uint32) uint16 {
	if !w.ok(off, 2) {
		return 0xffff
	}
	return le16(load16(unsafe.Add(w.base, off)))
}

// Read32 reads the little-endian 32-bit register at off.
func (w *Window) Read32(off uint32) uint32 {
	if !w.ok(off, 4) {
		return 0xffffffff
	}
	return le32(load32(unsafe.Add(w.base, off)))
}

// Write8 writes the byte register at off.
func (w *Window) Write8(off uint32, v uint8) {
	if w.ok(off, 1) {
		store8(unsafe.Add(w.base, off), v)
	}
}

// Write16 writes the little-endian 16-bit register at off.
func (w *Window) Write16(off uint32, v uint16) {
	if w.ok(off, 2) {
		store16(unsafe.Add(w.base, off), le16(v))
	}
}

// Write32 writes the little-endian 32-bit register at off.
func (w *Window) Write32(off uint32, v uint32) {
	if w.ok(off, 4) {
		store32(unsafe.Add(w.base, off), le32(v))
	}
}
