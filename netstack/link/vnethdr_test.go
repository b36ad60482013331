package link

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVirtioNetHdrRoundTrip(t *testing.T) {
	for _, o := range []Offload{
		{},
		{Flags: FlagDataValid},
		{Flags: FlagNeedsCsum, CsumStart: 34, CsumOffset: 16},
		{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
		{Flags: FlagNeedsCsum, GSOType: GSOTCPv6 | GSOECN, HdrLen: 74, GSOSize: 1428, CsumStart: 54, CsumOffset: 16},
	} {
		var b [VirtioNetHdrLen]byte
		PutVirtioNetHdr(b[:], o)
		got, err := ParseVirtioNetHdr(b[:], 9000)
		require.NoError(t, err, "%+v", o)
		require.Equal(t, o, got)
	}
}

func TestParseVirtioNetHdrRefusesInconsistentHeaders(t *testing.T) {
	for name, o := range map[string]Offload{
		"unknown flag":              {Flags: 4},
		"checksum past the frame":   {Flags: FlagNeedsCsum, CsumStart: 90, CsumOffset: 16},
		"ECN without a GSO type":    {GSOType: GSOECN},
		"unknown GSO type":          {GSOType: 2},
		"GSO with no segment size":  {GSOType: GSOTCPv4, HdrLen: 54},
		"headers longer than frame": {GSOType: GSOTCPv4, HdrLen: 200, GSOSize: 1448},
	} {
		var b [VirtioNetHdrLen]byte
		PutVirtioNetHdr(b[:], o)
		_, err := ParseVirtioNetHdr(b[:], 100)
		require.ErrorIs(t, err, ErrBadVirtioNetHdr, name)
	}
	_, err := ParseVirtioNetHdr(make([]byte, 9), 100)
	require.ErrorIs(t, err, ErrBadVirtioNetHdr, "short header")
}

// FuzzParseVirtioNetHdr parses headers from an untrusted peer: never panics, and what it
// accepts keeps every offset inside the frame and writes back the same bytes.
func FuzzParseVirtioNetHdr(f *testing.F) {
	var b [VirtioNetHdrLen]byte
	PutVirtioNetHdr(b[:], Offload{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16})
	f.Add(b[:], 1514)
	f.Fuzz(func(t *testing.T, b []byte, frameLen int) {
		o, err := ParseVirtioNetHdr(b, frameLen)
		if err != nil {
			return
		}
		if o.Flags&FlagNeedsCsum != 0 {
			require.LessOrEqual(t, int(o.CsumStart)+int(o.CsumOffset)+2, frameLen)
		}
		if o.GSOType != GSONone {
			require.LessOrEqual(t, int(o.HdrLen), frameLen)
		}
		var again [VirtioNetHdrLen]byte
		PutVirtioNetHdr(again[:], o)
		require.Equal(t, b[:10], again[:10])
	})
}
