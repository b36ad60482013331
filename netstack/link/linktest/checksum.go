package linktest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/unikit/unikit/netstack/link"
)

// ErrNotTCPUDP is returned by [VerifyChecksums] for a frame that is not TCP or UDP over IPv4
// or IPv6 (see [link.LocateHeaders]).
var ErrNotTCPUDP = errors.New("linktest: not a TCP or UDP packet over IP")

// Completed returns a copy of frame with the checksum that o leaves pending finished, as a NIC
// would finish it before the frame reaches the wire: frames without [link.FlagNeedsCsum] are
// copied unchanged.
func Completed(frame []byte, o link.Offload) []byte {
	b := append([]byte(nil), frame...)
	if o.Flags&link.FlagNeedsCsum != 0 {
		link.CompleteChecksum(b, o)
	}
	return b
}

// VerifyChecksums checks the IPv4 header checksum and the TCP or UDP checksum of an Ethernet
// frame received with offload metadata o, and that the IP length fields agree with the frame
// (Ethernet padding after the IP packet is allowed). A frame with [link.FlagNeedsCsum] is
// checked as the link's peer would finish it ([Completed]); a GSO frame is checked as one large
// packet, whose pseudo-header counts the whole transport length, as a NIC finishes it before
// cutting it into segments. It returns nil when every checksum is right.
func VerifyChecksums(frame []byte, o link.Offload) error {
	if o.Flags&link.FlagNeedsCsum != 0 {
		frame = Completed(frame, o)
	}
	h, ok := link.LocateHeaders(frame)
	if !ok {
		return ErrNotTCPUDP
	}
	ip := frame[h.L3:h.L4]
	var end int // end of the IP packet
	if h.IPv6 {
		end = h.L4 + int(binary.BigEndian.Uint16(ip[4:]))
	} else {
		if s := link.Checksum(ip, 0); s != 0xffff {
			return fmt.Errorf("linktest: IPv4 header checksum %#04x is wrong (sum %#04x)", binary.BigEndian.Uint16(ip[10:]), s)
		}
		end = h.L3 + int(binary.BigEndian.Uint16(ip[2:]))
	}
	if end > len(frame) || end < h.Len {
		return fmt.Errorf("linktest: IP length says the packet ends at byte %d of a %d-byte frame", end, len(frame))
	}
	l4 := frame[h.L4:end]
	if h.Proto == link.ProtoUDP {
		if binary.BigEndian.Uint16(l4[4:]) != uint16(len(l4)) {
			return fmt.Errorf("linktest: UDP length %d in a %d-byte datagram", binary.BigEndian.Uint16(l4[4:]), len(l4))
		}
		if !h.IPv6 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return nil // IPv4 UDP without a checksum
		}
	}
	if s := link.Checksum(l4, pseudoHeaderSum(h.IPv6, ip, h.Proto, len(l4))); s != 0xffff {
		return fmt.Errorf("linktest: transport checksum %#04x is wrong (sum %#04x)", binary.BigEndian.Uint16(l4[h.CsumOffset():]), s)
	}
	return nil
}
