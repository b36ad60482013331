package link

import "encoding/binary"

// EtherTypes and IP protocol numbers [LocateHeaders] recognises.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeIPv6 = 0x86dd
	ProtoTCP      = 6
	ProtoUDP      = 17
)

// Headers is where the IP and transport headers of an Ethernet frame lie, as offsets from the
// frame's first byte.
type Headers struct {
	// IPv6 is true for an IPv6 packet, false for IPv4.
	IPv6 bool
	// Proto is the transport protocol: [ProtoTCP] or [ProtoUDP].
	Proto uint8
	// L3 is the offset of the IP header (the Ethernet header's length).
	L3 int
	// L4 is the offset of the transport header, where checksumming starts.
	L4 int
	// Len is the length of all headers, Ethernet to transport: where the payload begins.
	Len int
}

// CsumOffset returns the offset of the transport checksum from [Headers.L4]: 16 for TCP, 6
// for UDP.
func (h Headers) CsumOffset() int {
	if h.Proto == ProtoTCP {
		return 16
	}
	return 6
}

// LocateHeaders finds the IP and transport headers of the Ethernet frame whose headers are
// all in b. It recognises TCP and UDP over IPv4 (any header length, not a fragment) and over
// IPv6 without extension headers, and checks that every header it reports lies within b; ok is
// false for anything else. The frame comes from an untrusted peer: LocateHeaders reads only
// b and never trusts a length field beyond it. Links use it to recompute what a transport
// does not carry (Xen's netif ring has only "checksum blank") and to segment GSO frames in
// software.
func LocateHeaders(b []byte) (h Headers, ok bool) {
	if len(b) < EthernetHeaderLen {
		return h, false
	}
	h.L3 = EthernetHeaderLen
	ip := b[h.L3:]
	switch binary.BigEndian.Uint16(b[12:]) {
	case EtherTypeIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return h, false
		}
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || len(ip) < ihl || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return h, false // fragments carry no transport header past the first
		}
		h.L4, h.Proto = h.L3+ihl, ip[9]
	case EtherTypeIPv6:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return h, false
		}
		h.IPv6, h.L4, h.Proto = true, h.L3+40, ip[6]
	default:
		return h, false
	}
	switch h.Proto {
	case ProtoTCP:
		if len(b) < h.L4+20 {
			return h, false
		}
		thl := int(b[h.L4+12]>>4) * 4
		if thl < 20 || len(b) < h.L4+thl {
			return h, false
		}
		h.Len = h.L4 + thl
	case ProtoUDP:
		if len(b) < h.L4+8 {
			return h, false
		}
		h.Len = h.L4 + 8
	default:
		return h, false
	}
	return h, true
}
