package link

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// naiveChecksum is RFC 1071's reference algorithm, 16 bits at a time, against which the
// word-at-a-time Checksum is checked.
func naiveChecksum(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func TestChecksumMatchesReference(t *testing.T) {
	b := make([]byte, 1500)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	for n := range len(b) + 1 {
		for _, initial := range []uint16{0, 1, 0xfffe, 0xffff} {
			require.Equal(t, naiveChecksum(b[:n], initial), Checksum(b[:n], initial), "length %d, initial %#x", n, initial)
		}
	}
	ones := make([]byte, 4096)
	for i := range ones {
		ones[i] = 0xff
	}
	require.Equal(t, naiveChecksum(ones, 0xffff), Checksum(ones, 0xffff), "carries out of every word")
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff}, uint16(0xffff))
	f.Add(make([]byte, 64), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, initial uint16) {
		require.Equal(t, naiveChecksum(b, initial), Checksum(b, initial))
	})
}

func TestCompleteChecksum(t *testing.T) {
	// A UDP-like region whose checksum field holds a "pseudo-header" sum.
	b := []byte{0, 0, 0xab, 0xcd, 0x12, 0x34, 0, 0, 0x00, 0x06, 0x11}
	require.True(t, CompleteChecksum(b, Offload{Flags: FlagNeedsCsum, CsumStart: 2, CsumOffset: 4}))
	require.Equal(t, uint16(0xffff), Checksum(b[2:], 0), "the region now sums to all ones")

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
