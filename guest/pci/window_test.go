package pci

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
)

// alignedBytes returns n bytes whose first byte is 8-byte aligned.
func alignedBytes(n int) []byte {
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), n)
}

func TestWindowAccess(t *testing.T) {
	mem := alignedBytes(64)
	w := NewWindow(mem)
	assert.Equal(t, uint64(64), w.Size())

	w.Write32(0, 0x04030201)
	w.Write16(4, 0x0605)
	w.Write8(6, 0x07)
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 0}, mem[:8], "little-endian, exact widths")
	assert.Equal(t, uint32(0x04030201), w.Read32(0))
	assert.Equal(t, uint16(0x0403), w.Read16(2))
	assert.Equal(t, uint8(0x07), w.Read8(6))

	w.Write32(60, 0xffeeddcc)
	assert.Equal(t, uint32(0xffeeddcc), w.Read32(60), "last word")
}

func TestWindowOutsideOrUnaligned(t *testing.T) {
	mem := alignedBytes(16)
	w := NewWindow(mem)
	for _, off := range []uint32{16, 17, 1 << 31, ^uint32(0)} {
		assert.Equal(t, uint8(0xff), w.Read8(off), off)
		w.Write8(off, 1)
	}
	for _, off := range []uint32{1, 15, 16, ^uint32(0) - 1} {
		assert.Equal(t, uint16(0xffff), w.Read16(off), off)
		w.Write16(off, 1)
	}
	for _, off := range []uint32{2, 13, 16, ^uint32(0) - 3} {
		assert.Equal(t, uint32(0xffffffff), w.Read32(off), off)
		w.Write32(off, 1)
	}
	assert.Equal(t, make([]byte, 16), mem, "nothing written")

	empty := NewWindow(nil)
	assert.Equal(t, uint8(0xff), empty.Read8(0))
	empty.Write32(0, 1)
}

func TestWindowDoesNotAllocate(t *testing.T) {
	w := NewWindow(alignedBytes(64))
	var sink uint32
	r := allocs.Measure(100, 0, func() {
		w.Write16(8, 1)
		sink += w.Read32(8) + uint32(w.Read16(8)) + uint32(w.Read8(9))
	})
	require.Zero(t, r.Mallocs, "%v", r)
	_ = sink
}
