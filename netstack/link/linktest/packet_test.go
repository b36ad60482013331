package linktest

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

// naiveTransportOK checks a frame's transport checksum the slow way, independently of
// VerifyChecksums: 16-bit words of a pseudo-header built byte by byte, then of the segment.
func naiveTransportOK(t *testing.T, f []byte, v6 bool, proto uint8) bool {
	t.Helper()
	var pseudo, seg []byte
	if v6 {
		seg = f[14+40:]
		pseudo = append(pseudo, f[14+8:14+40]...)
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(seg)))
		pseudo = append(pseudo, 0, 0, 0, proto)
	} else {
		ihl := int(f[14]&0xf) * 4
		seg = f[14+ihl : 14+int(binary.BigEndian.Uint16(f[16:]))]
		pseudo = append(pseudo, f[14+12:14+20]...)
		pseudo = append(pseudo, 0, proto)
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(seg)))
	}
	var sum uint32
	for _, b := range [][]byte{pseudo, seg} {
		for i := 0; i < len(b); i += 2 {
			w := uint32(b[i]) << 8
			if i+1 < len(b) {
				w |= uint32(b[i+1])
			}
			sum += w
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum == 0xffff
}

func TestPacketFrames(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			for _, n := range []int{0, 1, 17, 1000, 1001} {
				p := Packet{SrcMAC: macA, DstMAC: macB, IPv6: v6, TCP: tcp, SrcPort: 1, DstPort: 2,
					Seq: 0xfffffff0, Ack: 9, Payload: pattern(n, n)}
				proto := uint8(link.ProtoUDP)
				if tcp {
					proto = link.ProtoTCP
				}
				f := p.Frame()
				require.Len(t, f, p.HeaderLen()+n)
				require.Equal(t, []byte(macB), f[:6])
				require.Equal(t, []byte(macA), f[6:12])
				require.NoError(t, VerifyChecksums(f, link.Offload{}), "v6 %v tcp %v n %d", v6, tcp, n)
				require.True(t, naiveTransportOK(t, f, v6, proto), "v6 %v tcp %v n %d", v6, tcp, n)
				h, ok := link.LocateHeaders(f)
				require.True(t, ok)
				require.Equal(t, p.HeaderLen(), h.Len)

				partial, off := p.PartialFrame()
				require.Equal(t, link.FlagNeedsCsum, off.Flags)
				require.Equal(t, h.L4, int(off.CsumStart))
				require.Equal(t, h.CsumOffset(), int(off.CsumOffset))
				require.NoError(t, VerifyChecksums(partial, off), "a pending checksum verifies as completed")
				require.Equal(t, f, Completed(partial, off))

				bad := append([]byte(nil), f...)
				bad[len(bad)-1-n/2]++ // a payload byte, or a header byte without payload
				require.Error(t, VerifyChecksums(bad, link.Offload{}), "v6 %v tcp %v n %d", v6, tcp, n)
			}
		}
	}
}

func TestTSOFrame(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := Packet{SrcMAC: macA, DstMAC: macB, IPv6: v6, TCP: true, SrcPort: 5, DstPort: 6, Payload: pattern(1, 20000)}
		f, off := p.TSOFrame(1448)
		want := link.GSOTCPv4
		if v6 {
			want = link.GSOTCPv6
		}
		require.Equal(t, want, off.GSOType)
		require.Equal(t, uint16(1448), off.GSOSize)
		require.Equal(t, uint16(p.HeaderLen()), off.HdrLen)
		require.Equal(t, link.FlagNeedsCsum, off.Flags)
		// The checksum field holds the pseudo-header sum over the whole TCP length: finishing
		// it as one packet gives a valid checksum.
		require.NoError(t, VerifyChecksums(f, off))
		require.True(t, naiveTransportOK(t, Completed(f, off), v6, link.ProtoTCP))
	}
	require.Panics(t, func() { (&Packet{}).TSOFrame(1000) }, "UDP")
	require.Panics(t, func() { (&Packet{TCP: true, Payload: make([]byte, 70000)}).Frame() }, "longer than IPv4 allows")
}

func TestVerifyChecksumsLengths(t *testing.T) {
	p := Packet{SrcMAC: macA, DstMAC: macB, Payload: []byte("short")}
	f := p.Frame()
	require.NoError(t, VerifyChecksums(append(f, make([]byte, 60-len(f))...), link.Offload{}), "Ethernet padding")
	require.Error(t, VerifyChecksums(f[:len(f)-1], link.Offload{}), "the IP length says more than the frame holds")
	require.ErrorIs(t, VerifyChecksums(make([]byte, 60), link.Offload{}), ErrNotTCPUDP)

	noSum := append([]byte(nil), f...)
	binary.BigEndian.PutUint16(noSum[14+20+6:], 0)
	require.NoError(t, VerifyChecksums(noSum, link.Offload{}), "IPv4 UDP without a checksum")

	badIP := append([]byte(nil), f...)
	badIP[14+8]-- // TTL
	require.ErrorContains(t, VerifyChecksums(badIP, link.Offload{}), "IPv4 header checksum")

	p.IPv6 = true
	f6 := p.Frame()
	binary.BigEndian.PutUint16(f6[14+40+6:], 0)
	require.Error(t, VerifyChecksums(f6, link.Offload{}), "IPv6 UDP must carry a checksum")
}

func TestNumberedFrame(t *testing.T) {
	for _, n := range []int{MinNumberedFrameLen, 60, 1514, 9014, MaxNumberedFrameLen} {
		f := NumberedFrame(macA, macB, 0xdeadbeef, n)
		require.Len(t, f, n)
		id, ok := FrameNumber(f)
		require.True(t, ok)
		require.Equal(t, uint32(0xdeadbeef), id)
		require.NoError(t, VerifyChecksums(f, link.Offload{}))
		require.True(t, isSuiteFrame(f))
	}
	require.Equal(t, NumberedFrame(macA, macB, 7, 100), NumberedFrame(macA, macB, 7, 100))
	require.NotEqual(t, NumberedFrame(macA, macB, 7, 100), NumberedFrame(macA, macB, 8, 100))
	other := (&Packet{SrcPort: SuitePort, Payload: make([]byte, 20)}).Frame()
	_, ok := FrameNumber(other)
	require.False(t, ok, "a suite frame without the magic")
	require.True(t, isSuiteFrame(other))
	require.Panics(t, func() { NumberedFrame(macA, macB, 1, MinNumberedFrameLen-1) })
	require.Panics(t, func() { NumberedFrame(macA, macB, 1, MaxNumberedFrameLen+1) })
}
