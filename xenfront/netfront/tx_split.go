package netfront

import (
	"encoding/binary"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
)

// A TCP GSO frame may be as long as link.MaxGSOSize (an IP packet of 65535 bytes and its
// Ethernet header), but the netif protocol describes a packet's length in 16 bits: a frame
// longer than netif.MaxTxSize goes to the back end as two GSO frames, cut at a segment
// boundary, so that the segments the back end (or the NIC behind it) finally sends are the
// ones the whole frame would have given. Linux netfront never sees such frames: it lowers the
// stack's GSO limit instead, which the link contract has no way to do.

// maxSplitHeader bounds the headers of a frame transmitSplit cuts: Ethernet, IPv4 with
// options or IPv6, and TCP with options.
const maxSplitHeader = link.EthernetHeaderLen + 60 + 60

// TCP flags a cut adjusts.
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// gsoSplit is the scratch space of transmitSplit, so that cutting a frame allocates nothing
// once warmed up. It belongs to the queue's txMu.
type gsoSplit struct {
	header [2][maxSplitHeader]byte
	segs   [2][][]byte
}

// transmitSplit sends the GSO frame f of size bytes, longer than netif.MaxTxSize, as two GSO
// frames: the first with as many whole segments as fit, the second with the rest (txMu held,
// released while waiting for room). A frame it cannot cut that way (not TCP over IPv4 or
// IPv6, or with segments so long that a part still does not fit) is dropped and counted, as
// any frame the link cannot carry.
func (q *queue) transmitSplit(f *link.Frame, size int, gso uint8) error {
	l := q.l
	var head [maxSplitHeader]byte
	h, ok := link.LocateHeaders(head[:gather(head[:], f.Segments)])
	mss := int(f.Offload.GSOSize)
	payload := size - h.Len
	first := 0 // payload bytes of the first part
	if ok && h.Proto == link.ProtoTCP {
		first = (netif.MaxTxSize - h.Len) / mss * mss
	}
	if first == 0 || first >= payload || h.Len+payload-first > netif.MaxTxSize {
		l.counters.TxDropped(1)
		return nil
	}
	lens := [2]int{h.Len + first, h.Len + payload - first}
	slots := [2]int{pages(lens[0]), pages(lens[1])}
	if err := q.awaitTxRoom(slots[0]+slots[1]+2, slots[0]+slots[1]); err != nil {
		return err
	}
	// The scratch space is written only now: awaitTxRoom lets other transmitters of this
	// queue run.
	sp := &q.split
	for i, part := range [2][2]int{{0, first}, {first, payload}} {
		hdr := sp.header[i][:h.Len]
		copy(hdr, head[:h.Len])
		cutHeaders(hdr, h, part[0], part[1]-part[0], mss, part[1] == payload)
		sp.segs[i] = appendRange(append(sp.segs[i][:0], hdr), f.Segments, h.Len+part[0], h.Len+part[1])
		pf := link.Frame{Segments: sp.segs[i], Offload: f.Offload}
		pf.Offload.Flags = link.FlagNeedsCsum
		pf.Offload.HdrLen = uint16(h.Len)
		pf.Offload.CsumStart, pf.Offload.CsumOffset = uint16(h.L4), uint16(h.CsumOffset())
		q.putFrame(&pf, lens[i], slots[i], gso)
		clear(sp.segs[i]) // the frame is borrowed: keep no reference to it
	}
	l.counters.Sent(1, size)
	return nil
}

// pages returns the number of pages n bytes take.
func pages(n int) int { return (n + xenfront.PageSize - 1) / xenfront.PageSize }

// gather copies the first bytes of segs into dst and returns how many it copied.
func gather(dst []byte, segs [][]byte) int {
	n := 0
	for _, s := range segs {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], s)
	}
	return n
}

// appendRange appends to dst the parts of segs that hold bytes from to to of their
// concatenation.
func appendRange(dst, segs [][]byte, from, to int) [][]byte {
	pos := 0
	for _, s := range segs {
		start, end := max(from-pos, 0), min(to-pos, len(s))
		if start < end {
			dst = append(dst, s[start:end])
		}
		pos += len(s)
		if pos >= to {
			break
		}
	}
	return dst
}

// cutHeaders rewrites the headers hdr (laid out as h says) of a TCP super-frame for the part
// whose payload starts off bytes into the whole and is n bytes long: IP length, the IPv4
// identification and header checksum as the part's first segment has them, the sequence
// number, FIN and PSH only on the last part, CWR only on the first, and in the checksum field
// the pseudo-header sum over the part's TCP length that FlagNeedsCsum asks for.
func cutHeaders(hdr []byte, h link.Headers, off, n, mss int, last bool) {
	ip := hdr[h.L3:h.L4]
	tcpLen := h.Len - h.L4 + n
	var addrs []byte
	if h.IPv6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(tcpLen))
		addrs = ip[8:40]
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+tcpLen))
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+uint16(off/mss))
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ^link.Checksum(ip, 0))
		addrs = ip[12:20]
	}
	tcp := hdr[h.L4:]
	binary.BigEndian.PutUint32(tcp[4:], binary.BigEndian.Uint32(tcp[4:])+uint32(off))
	if !last {
		tcp[13] &^= tcpFIN | tcpPSH
	}
	if off > 0 {
		tcp[13] &^= tcpCWR
	}
	pseudo := [4]byte{0, link.ProtoTCP}
	binary.BigEndian.PutUint16(pseudo[2:], uint16(tcpLen))
	binary.BigEndian.PutUint16(tcp[16:], link.Checksum(pseudo[:], link.Checksum(addrs, 0)))
}
