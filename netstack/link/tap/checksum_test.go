package tap

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// TestChecksumMatchesGVisor compares sum/fold with gVisor's checksum over many lengths and
// offsets, including odd ones.
func TestChecksumMatchesGVisor(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 70000)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 63, 64, 65, 1499, 1500, 65535, 70000} {
		for _, off := range []int{0, 1, 3} {
			if off+n > len(b) {
				continue
			}
			require.Equal(t, checksum.Checksum(b[off:off+n], 0), fold(sum(b[off:off+n])), "len %d off %d", n, off)
		}
	}
	ff := make([]byte, 1<<16)
	for i := range ff {
		ff[i] = 0xff
	}
	require.Equal(t, checksum.Checksum(ff, 0), fold(sum(ff)))
}

func TestCompleteChecksum(t *testing.T) {
	// A UDP-like region whose checksum field holds a "pseudo-header" sum.
	b := []byte{0, 0, 0xab, 0xcd, 0x12, 0x34, 0, 0, 0x00, 0x06, 0x11}
	completeChecksum(b, 2, 4)
	require.Equal(t, uint16(0xffff), checksum.Checksum(b[2:], 0), "the region now sums to all ones")
}

func BenchmarkCompleteChecksum64K(b *testing.B) {
	buf := make([]byte, 65536)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		completeChecksum(buf, 34, 16)
	}
}
