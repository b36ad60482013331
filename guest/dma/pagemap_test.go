package dma

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPhysAddr(t *testing.T) {
	// A present page with frame 0x3c00 (physical 0x3c00000, the first huge page QEMU's x86
	// guest gave in the experiment of the design notes), exclusively mapped (bit 56).
	e := PagemapEntry(1<<63 | 1<<56 | 0x3c00)
	assert.True(t, e.Present())
	assert.False(t, e.Swapped())
	assert.Equal(t, uint64(0x3c00), e.PFN())
	pa, err := PhysAddr(e, 0x7f201234, 4096) // a virtual address that fits 32-bit targets too
	require.NoError(t, err)
	assert.Equal(t, uint64(0x3c00234), pa)

	pa, err = PhysAddr(PagemapEntry(1<<63|0x44600), 0x10000, 65536)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x446000000), pa, "64 KiB pages")

	// Bits 55-61 are flags, not frame number.
	assert.Equal(t, uint64(0x12345), PagemapEntry(1<<63|1<<61|1<<55|0x12345).PFN())
	assert.Equal(t, uint64(1<<55-1), PagemapEntry(^uint64(0)&^(1<<62)).PFN())
}

func TestPhysAddrRefuses(t *testing.T) {
	for name, e := range map[string]PagemapEntry{
		"not present":  0x3c00,
		"swapped":      1<<63 | 1<<62 | 0x3c00,
		"hidden frame": 1 << 63, // what a reader without CAP_SYS_ADMIN sees
		"zero":         0,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := PhysAddr(e, 0x1000, 4096)
			require.ErrorIs(t, err, ErrNoPhysAddr)
		})
	}
}
