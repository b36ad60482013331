//go:build !amd64 && !arm64

package pci

import (
	"encoding/binary"
	"unsafe"
)

// On other architectures the accesses are plain loads and stores in functions the compiler
// may not inline, so each call is one access of its width; unlike the amd64 and arm64
// assembly this carries no barrier and has not been tried on a device.

//go:noinline
func load8(p unsafe.Pointer) uint8 { return *(*uint8)(p) }

//go:noinline
func load16(p unsafe.Pointer) uint16 { return *(*uint16)(p) }

//go:noinline
func load32(p unsafe.Pointer) uint32 { return *(*uint32)(p) }

//go:noinline
func store8(p unsafe.Pointer, v uint8) { *(*uint8)(p) = v }

//go:noinline
func store16(p unsafe.Pointer, v uint16) { *(*uint16)(p) = v }

//go:noinline
func store32(p unsafe.Pointer, v uint32) { *(*uint32)(p) = v }

// le16 converts between a little-endian register value and a native one.
func le16(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.LittleEndian.Uint16(b[:])
}

// le32 converts between a little-endian register value and a native one.
func le32(v uint32) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return binary.LittleEndian.Uint32(b[:])
}
