package ethhdr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func frame(etype uint16, l3 []byte) []byte {
	f := make([]byte, 14, 14+len(l3))
	f[12], f[13] = byte(etype>>8), byte(etype)
	return append(f, l3...)
}

func TestL4(t *testing.T) {
	ip4 := make([]byte, 20+20)
	ip4[0] = 0x45
	ip4[9] = 6
	ip4[20+12] = 5 << 4
	start, off, hdr, tcp, ok := L4(frame(0x0800, ip4))
	require.True(t, ok)
	require.True(t, tcp)
	require.EqualValues(t, 34, start)
	require.EqualValues(t, 16, off)
	require.EqualValues(t, 54, hdr)

	ip6 := make([]byte, 40+8)
	ip6[0] = 0x60
	ip6[6] = 17
	start, off, hdr, tcp, ok = L4(frame(0x86DD, ip6))
	require.True(t, ok)
	require.False(t, tcp)
	require.EqualValues(t, 54, start)
	require.EqualValues(t, 6, off)
	require.EqualValues(t, 62, hdr)

	frag := append([]byte(nil), ip4...)
	frag[6] = 0x20 // more fragments
	_, _, _, _, ok = L4(frame(0x0800, frag))
	require.False(t, ok, "fragments carry no transport header to checksum")
	_, _, _, _, ok = L4(frame(0x0806, ip4))
	require.False(t, ok)
	_, _, _, _, ok = L4(frame(0x0800, ip4[:30]))
	require.False(t, ok)
}

// FuzzL4 parses frames a back end delivered: never panics, and offsets stay in the frame.
func FuzzL4(f *testing.F) {
	ip4 := make([]byte, 40)
	ip4[0], ip4[9], ip4[32] = 0x45, 6, 0x50
	f.Add(frame(0x0800, ip4))
	f.Add(frame(0x86DD, make([]byte, 48)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		start, off, hdr, _, ok := L4(b)
		if !ok {
			return
		}
		require.LessOrEqual(t, int(hdr), len(b))
		require.Less(t, int(start+off)+1, len(b))
	})
}
