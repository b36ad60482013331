// Package ethhdr locates transport headers in Ethernet frames for the Xen drivers, which must
// recompute checksum offsets the netif ring does not carry.
package ethhdr

import (
	"encoding/binary"

	"github.com/unikit/unikit/netstack"
)

// L4 locates the transport header of an Ethernet frame whose headers are all in b: it returns
// where checksumming starts, the checksum's offset from there, and the length of all headers
// (for GSO). Xen carries only "checksum blank" and "GSO type" on the ring, so the front end
// recomputes the rest, as Linux's skb_checksum_setup does. Only TCP and UDP over IPv4 and over
// IPv6 without extension headers are recognised; ok is false otherwise.
func L4(b []byte) (csumStart, csumOffset, hdrLen uint16, tcp, ok bool) {
	if len(b) < netstack.EthernetHeaderLen {
		return 0, 0, 0, false, false
	}
	var l3, proto int
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		if len(b) < 14+20 || b[14]>>4 != 4 {
			return 0, 0, 0, false, false
		}
		l3 = int(b[14]&0xf) * 4
		if l3 < 20 || binary.BigEndian.Uint16(b[14+6:])&0x3fff != 0 { // fragments carry no L4 header
			return 0, 0, 0, false, false
		}
		proto = int(b[14+9])
	case 0x86DD:
		if len(b) < 14+40 || b[14]>>4 != 6 {
			return 0, 0, 0, false, false
		}
		l3 = 40
		proto = int(b[14+6])
	default:
		return 0, 0, 0, false, false
	}
	start := 14 + l3
	switch proto {
	case 6:
		if len(b) < start+20 {
			return 0, 0, 0, false, false
		}
		th := int(b[start+12]>>4) * 4
		if th < 20 || len(b) < start+th {
			return 0, 0, 0, false, false
		}
		return uint16(start), 16, uint16(start + th), true, true
	case 17:
		if len(b) < start+8 {
			return 0, 0, 0, false, false
		}
		return uint16(start), 6, uint16(start + 8), false, true
	}
	return 0, 0, 0, false, false
}
