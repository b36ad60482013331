package pci

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// qemuResource is the resource file of QEMU 7.2's transitional virtio-net-pci function on the
// x86 "pc" machine without an option ROM (romfile=), as read in a guest: I/O BAR0, MSI-X
// BAR1 and the 64-bit prefetchable BAR4 that holds the virtio structures.
const qemuResource = `0x000000000000c000 0x000000000000c01f 0x0000000000040101
0x00000000febf1000 0x00000000febf1fff 0x0000000000040200
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x00000000fe000000 0x00000000fe003fff 0x000000000014220c
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
`

func TestParseResources(t *testing.T) {
	rs, err := ParseResources([]byte(qemuResource))
	require.NoError(t, err)
	require.Len(t, rs, 13)
	assert.Equal(t, uint64(32), rs[0].Size())
	assert.Equal(t, uint64(0x4000), rs[4].Size())
	assert.Equal(t, uint64(0), rs[2].Size())

	require.ErrorIs(t, rs[0].Check(32), ErrBadDevice, "I/O BAR")
	require.NoError(t, rs[1].Check(0x1000))
	require.NoError(t, rs[4].Check(0x4000))
	require.ErrorIs(t, rs[4].Check(0x1000), ErrBadDevice, "file size differs")
	require.ErrorIs(t, rs[2].Check(0), ErrBadDevice, "empty")

	for _, in := range []string{
		"",
		"\n",
		"0x0 0x0 0x0\n", // fewer than six lines
		"0x0 0x0\n0x0 0x0\n0x0 0x0\n0x0 0x0\n0x0 0x0\n0x0 0x0\n",                   // two fields
		"0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0 0 0\n", // no 0x
		"0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x10000000000000000\n",
		"0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0x0 0x0 0x0\n0x0  0x0 0x0\n0x0 0x0 0x0\n",
	} {
		_, err := ParseResources([]byte(in))
		require.ErrorIs(t, err, ErrBadDevice, "%q", in)
	}
}

func TestResourceCheck(t *testing.T) {
	mem := uint64(ResourceMem)
	for _, tc := range []struct {
		name string
		r    Resource
		file int64
		ok   bool
	}{
		{"16 KiB", Resource{0xfe000000, 0xfe003fff, mem | ResourceMem64 | ResourcePrefetch}, 0x4000, true},
		{"16 bytes", Resource{0xfe000000, 0xfe00000f, mem}, 16, true},
		{"1 GiB", Resource{1 << 40, 1<<40 + 1<<30 - 1, mem}, 1 << 30, true},
		{"2 GiB", Resource{1 << 40, 1<<40 + 1<<31 - 1, mem}, 1 << 31, false},
		{"8 bytes", Resource{0xfe000000, 0xfe000007, mem}, 8, false},
		{"not a power of two", Resource{0xfe000000, 0xfe002fff, mem}, 0x3000, false},
		{"end before start", Resource{0xfe003fff, 0xfe000000, mem}, 0x4000, false},
		{"whole address space", Resource{0, ^uint64(0), mem}, 0, false},
		{"I/O", Resource{0xc000, 0xc01f, ResourceIO}, 32, false},
		{"I/O and memory", Resource{0xc000, 0xc01f, ResourceIO | mem}, 32, false},
		{"no type", Resource{0xfe000000, 0xfe003fff, 0}, 0x4000, false},
		{"unset", Resource{0xfe000000, 0xfe003fff, mem | ResourceUnset}, 0x4000, false},
		{"disabled", Resource{0xfe000000, 0xfe003fff, mem | ResourceDisabled}, 0x4000, false},
		{"negative file size", Resource{0xfe000000, 0xfe003fff, mem}, -1, false},
		{"file larger", Resource{0xfe000000, 0xfe003fff, mem}, 0x8000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Check(tc.file)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrBadDevice)
			}
		})
	}
}
