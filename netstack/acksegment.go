package netstack

import (
	"encoding/binary"

	"github.com/unikit/unikit/netstack/link"
)

// ackFrameMax is the longest pure ACK frame the ACK hold keeps (ackhold.go): Ethernet, an
// IPv6 header without extensions and a TCP header with timestamps (14+40+32 = 86 bytes),
// rounded up. Longer pure ACKs (more options) are passed on at once.
const ackFrameMax = 96

// ackPeekLen is how many bytes of a frame outSegment reads: Ethernet, IPv6 and a TCP header
// with the longest options.
const ackPeekLen = link.EthernetHeaderLen + 40 + 60

// flowKey identifies a TCP connection by its outgoing segments: the IP version, then source
// and destination addresses (4 or 16 bytes each) and ports, the rest zero.
type flowKey [1 + 16 + 16 + 2 + 2]byte

// outSeg is what the ACK hold needs to know of an outgoing frame.
type outSeg struct {
	key flowKey
	// hash picks the flow's slot; it mixes the ports and the low bytes of the addresses.
	hash uint32
	// ack is the acknowledgement number, valid when hasAck.
	ack    uint32
	hasAck bool
	// bare: the segment carries only the ACK flag and no payload (options may be there).
	bare bool
	// pureAck: a bare ACK with no TCP option but timestamps and padding (so no SACK blocks:
	// duplicate ACKs with SACK pass untouched) and short enough for the hold to keep.
	pureAck bool
	// length is the frame's length in bytes.
	length int
}

// outSegment parses an outgoing frame as IPv4 or IPv6 TCP (no IPv6 extension headers, no
// IPv4 fragments). It reports false for anything else: ARP, UDP, ICMP, malformed or
// truncated frames. peek is scratch for a frame whose headers span several segments.
func outSegment(f *link.Frame, peek *[ackPeekLen]byte) (outSeg, bool) {
	var s outSeg
	b := f.Segments
	if len(b) == 0 {
		return s, false
	}
	s.length = f.Len()
	h := b[0]
	if len(h) < ackPeekLen && len(h) < s.length {
		// The headers may continue in the next segments: gather what is needed.
		n := 0
		for _, seg := range b {
			n += copy(peek[n:], seg)
			if n == len(peek) {
				break
			}
		}
		h = peek[:n]
	}
	if len(h) < link.EthernetHeaderLen+20 {
		return s, false
	}
	var ipPayload int // bytes after the IP header, per the IP header's length field
	var tcp []byte
	switch binary.BigEndian.Uint16(h[12:14]) {
	case 0x0800:
		ip := h[link.EthernetHeaderLen:]
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 6 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 ||
			total < ihl || len(ip) < ihl+20 {
			return s, false
		}
		s.key[0] = 4
		copy(s.key[1:9], ip[12:20])
		ipPayload = total - ihl
		tcp = ip[ihl:]
	case 0x86dd:
		ip := h[link.EthernetHeaderLen:]
		if len(ip) < 40+20 || ip[0]>>4 != 6 || ip[6] != 6 {
			return s, false
		}
		s.key[0] = 6
		copy(s.key[1:33], ip[8:40])
		ipPayload = int(binary.BigEndian.Uint16(ip[4:6]))
		tcp = ip[40:]
	default:
		return s, false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || len(tcp) < doff {
		return s, false
	}
	copy(s.key[33:37], tcp[0:4])
	flags := tcp[13]
	s.ack = binary.BigEndian.Uint32(tcp[8:12])
	s.hasAck = flags&0x10 != 0
	s.hash = (uint32(tcp[0])<<24 | uint32(tcp[1])<<16 | uint32(tcp[2])<<8 | uint32(tcp[3])) ^
		binary.BigEndian.Uint32(s.key[29:33]) ^ binary.BigEndian.Uint32(s.key[5:9])
	const onlyACK = 0x10 // ACK set; FIN, SYN, RST, PSH, URG, ECE and CWR clear
	s.bare = flags == onlyACK && ipPayload == doff
	s.pureAck = s.bare && f.Offload.GSOType == link.GSONone && s.length <= ackFrameMax && onlyTimestamps(tcp[20:doff])
	return s, true
}

// onlyTimestamps reports whether TCP options opts hold nothing but timestamps, NOPs and the
// end-of-options marker.
func onlyTimestamps(opts []byte) bool {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0: // end of options
			return true
		case 1: // NOP
			i++
		case 8: // timestamps
			if i+10 > len(opts) || opts[i+1] != 10 {
				return false
			}
			i += 10
		default:
			return false
		}
	}
	return true
}
