//go:build amd64 || arm64

package pci

import "unsafe"

// Single loads and stores of exactly one width, in volatile_$GOARCH.s: the compiler cannot
// see into assembly, so it neither removes, merges nor reorders these accesses.

//go:noescape
func load8(p unsafe.Pointer) uint8

//go:noescape
func load16(p unsafe.Pointer) uint16

//go:noescape
func load32(p unsafe.Pointer) uint32

//go:noescape
func store8(p unsafe.Pointer, v uint8)

//go:noescape
func store16(p unsafe.Pointer, v uint16)

//go:noescape
func store32(p unsafe.Pointer, v uint32)

// amd64 and arm64 are little-endian, as PCI registers are.
func le16(v uint16) uint16 { return v }
func le32(v uint32) uint32 { return v }
