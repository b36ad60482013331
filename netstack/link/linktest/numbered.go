package linktest

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/unikit/unikit/netstack/link"
)

// SuitePort is the UDP and TCP source port of every frame the suite sends; receivers of the
// suite keep only frames from it, so that whatever else a real network puts on the wire (a
// kernel's IPv6 neighbour discovery, say) does not disturb the checks.
const SuitePort = 0x6c74

// numberMagic starts the payload of a numbered frame.
var numberMagic = [4]byte{'l', 'n', 'k', 't'}

// Lengths of the frames [NumberedFrame] builds: at least the Ethernet, IPv4 and UDP headers,
// the magic and the number; at most an IPv4 packet of 65535 bytes.
const (
	MinNumberedFrameLen = link.EthernetHeaderLen + ipv4HeaderLen + udpHeaderLen + 8
	MaxNumberedFrameLen = link.EthernetHeaderLen + 0xffff
)

// NumberedFrame returns an Ethernet/IPv4/UDP frame of n bytes from src to dst, with correct
// checksums, from and to [SuitePort], whose payload carries id and bytes derived from it: two
// frames with the same id and length are equal, and [FrameNumber] reads id back. n must lie
// between [MinNumberedFrameLen] and [MaxNumberedFrameLen].
func NumberedFrame(src, dst net.HardwareAddr, id uint32, n int) []byte {
	hdr := link.EthernetHeaderLen + ipv4HeaderLen + udpHeaderLen
	if n < MinNumberedFrameLen || n > MaxNumberedFrameLen {
		panic(fmt.Sprintf("linktest: numbered frame of %d bytes, outside [%d, %d]", n, MinNumberedFrameLen, MaxNumberedFrameLen))
	}
	payload := make([]byte, n-hdr)
	copy(payload, numberMagic[:])
	binary.BigEndian.PutUint32(payload[4:], id)
	for i := 8; i < len(payload); i++ {
		payload[i] = byte(id*31) ^ byte(i) ^ byte(i>>8)
	}
	p := Packet{SrcMAC: src, DstMAC: dst, SrcPort: SuitePort, DstPort: SuitePort, IPID: uint16(id), Payload: payload}
	return p.Frame()
}

// FrameNumber returns the id of a frame [NumberedFrame] built, and false for any other frame.
func FrameNumber(frame []byte) (uint32, bool) {
	h, ok := link.LocateHeaders(frame)
	if !ok || h.Proto != link.ProtoUDP || h.IPv6 || len(frame) < h.Len+8 ||
		binary.BigEndian.Uint16(frame[h.L4:]) != SuitePort ||
		[4]byte(frame[h.Len:h.Len+4]) != numberMagic {
		return 0, false
	}
	return binary.BigEndian.Uint32(frame[h.Len+4:]), true
}

// isSuiteFrame reports whether frame is TCP or UDP from SuitePort.
func isSuiteFrame(frame []byte) bool {
	h, ok := link.LocateHeaders(frame)
	return ok && binary.BigEndian.Uint16(frame[h.L4:]) == SuitePort
}
