package link

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func frame(etype uint16, l3 []byte) []byte {
	f := make([]byte, 14, 14+len(l3))
	f[12], f[13] = byte(etype>>8), byte(etype)
	return append(f, l3...)
}

func TestLocateHeaders(t *testing.T) {
	ip4 := make([]byte, 20+20)
	ip4[0] = 0x45
	ip4[9] = 6
	ip4[20+12] = 5 << 4
	h, ok := LocateHeaders(frame(0x0800, ip4))
	require.True(t, ok)
	require.Equal(t, Headers{Proto: ProtoTCP, L3: 14, L4: 34, Len: 54}, h)
	require.Equal(t, 16, h.CsumOffset())

	ip6 := make([]byte, 40+8)
	ip6[0] = 0x60
	ip6[6] = 17
	h, ok = LocateHeaders(frame(0x86DD, ip6))
	require.True(t, ok)
	require.Equal(t, Headers{IPv6: true, Proto: ProtoUDP, L3: 14, L4: 54, Len: 62}, h)
	require.Equal(t, 6, h.CsumOffset())

	frag := append([]byte(nil), ip4...)
	frag[6] = 0x20 // more fragments
	_, ok = LocateHeaders(frame(0x0800, frag))
	require.False(t, ok, "fragments carry no transport header to checksum")
	_, ok = LocateHeaders(frame(0x0806, ip4))
	require.False(t, ok)
	_, ok = LocateHeaders(frame(0x0800, ip4[:30]))
	require.False(t, ok)
}

// FuzzLocateHeaders parses frames a back end delivered: never panics, and offsets stay in the frame.
func FuzzLocateHeaders(f *testing.F) {
	ip4 := make([]byte, 40)
	ip4[0], ip4[9], ip4[32] = 0x45, 6, 0x50
	f.Add(frame(0x0800, ip4))
	f.Add(frame(0x86DD, make([]byte, 48)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := LocateHeaders(b)
		if !ok {
			return
		}
		require.LessOrEqual(t, h.Len, len(b))
		require.Less(t, h.L4+h.CsumOffset()+1, len(b))
		require.LessOrEqual(t, h.L4, h.Len)
	})
}
