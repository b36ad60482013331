package pipe

import (
	"encoding/binary"

	"github.com/unikit/unikit/netstack/link"
)

// Software TCP segmentation of GSO frames, for impaired pipes.
//
// A real NIC with TSO cuts a 64 KiB super-frame into MTU-sized packets before they reach the
// wire, and the wire loses, duplicates, reorders and corrupts those packets, not the
// super-frame. An impaired pipe does the same: it segments TCP GSO frames (IPv4 and IPv6
// without extension headers) into frames of GSOSize payload bytes with complete checksums,
// applies the impairments to each and delivers them as ordinary frames, as a receiver without
// GRO would see them. Without impairments the super-frame travels whole, which is what makes
// the fast path fast.

// TCP flags the segmentation adjusts.
const (
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// tcpGSO describes a TCP super-frame to be segmented.
type tcpGSO struct {
	v6      bool
	ipOff   int // start of the IP header
	tcpOff  int // start of the TCP header
	hdrLen  int // all headers, Ethernet to TCP
	mss     int
	payload int // payload bytes after hdrLen
}

// parseTCPGSO checks that b is an Ethernet/IP/TCP frame that o asks to segment and returns
// its layout; ok is false for anything else (the frame then travels unsegmented).
func parseTCPGSO(b []byte, o link.Offload) (g tcpGSO, ok bool) {
	switch o.GSOType &^ link.GSOECN {
	case link.GSOTCPv4, link.GSOTCPv6:
	default:
		return g, false
	}
	g.mss = int(o.GSOSize)
	h, ok := link.LocateHeaders(b)
	if g.mss == 0 || !ok || h.Proto != link.ProtoTCP {
		return g, false
	}
	g.v6, g.ipOff, g.tcpOff, g.hdrLen = h.IPv6, h.L3, h.L4, h.Len
	g.payload = len(b) - g.hdrLen
	return g, g.payload > 0
}

// segments returns the number of segments of g.
func (g *tcpGSO) segments() int { return (g.payload + g.mss - 1) / g.mss }

// segment writes segment i of the super-frame b into dst, which must hold hdrLen+mss bytes,
// and returns its length. IP length and identification, TCP sequence number and flags and
// all checksums are those of the i-th packet a NIC would have sent.
func (g *tcpGSO) segment(dst, b []byte, i int) int {
	start := g.hdrLen + i*g.mss
	end := min(start+g.mss, len(b))
	n := copy(dst, b[:g.hdrLen])
	n += copy(dst[n:], b[start:end])
	p := dst[:n]
	tcpLen := n - g.tcpOff
	ip := p[g.ipOff:g.tcpOff]
	if g.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(tcpLen))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(n-g.ipOff))
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+uint16(i))
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ^link.Checksum(ip, 0))
	}
	tcp := p[g.tcpOff:]
	seq := binary.BigEndian.Uint32(tcp[4:])
	binary.BigEndian.PutUint32(tcp[4:], seq+uint32(i*g.mss))
	if end < len(b) {
		tcp[13] &^= tcpFlagFIN | tcpFlagPSH // only the last segment ends the burst
	}
	if i > 0 {
		tcp[13] &^= tcpFlagCWR // only the first segment signals congestion window reduced
	}
	// Pseudo-header: addresses, protocol, TCP length.
	var pseudo [4]byte
	pseudo[1] = link.ProtoTCP
	binary.BigEndian.PutUint16(pseudo[2:], uint16(tcpLen))
	var addrs []byte
	if g.v6 {
		addrs = ip[8:40]
	} else {
		addrs = ip[12:20]
	}
	binary.BigEndian.PutUint16(tcp[16:], 0)
	binary.BigEndian.PutUint16(tcp[16:], ^link.Checksum(tcp, link.Checksum(pseudo[:], link.Checksum(addrs, 0))))
	return n
}
