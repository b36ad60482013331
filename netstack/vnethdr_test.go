package netstack

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

func TestCompleteChecksum(t *testing.T) {
	// A UDP-like region whose checksum field holds a "pseudo-header" sum.
	b := []byte{0, 0, 0xab, 0xcd, 0x12, 0x34, 0, 0, 0x00, 0x06, 0x11}
	require.True(t, CompleteChecksum(b, Offload{Flags: FlagNeedsCsum, CsumStart: 2, CsumOffset: 4}))
	require.Equal(t, uint16(0xffff), checksum.Checksum(b[2:], 0), "the region now sums to all ones")

	before := append([]byte(nil), b...)
	require.False(t, CompleteChecksum(b, Offload{Flags: FlagNeedsCsum, CsumStart: 10, CsumOffset: 6}))
	require.False(t, CompleteChecksum(b, Offload{Flags: FlagNeedsCsum, CsumStart: 40}))
	require.Equal(t, before, b, "offsets outside the frame change nothing")
}

func BenchmarkCompleteChecksum64K(b *testing.B) {
	buf := make([]byte, 65536)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		CompleteChecksum(buf, Offload{Flags: FlagNeedsCsum, CsumStart: 34, CsumOffset: 16})
	}
}
