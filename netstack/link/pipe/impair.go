package pipe

import (
	"encoding/binary"

	"github.com/unikit/unikit/netstack"
)

// decision is what the impairments do to one frame.
type decision struct {
	lose, dup, reorder, corrupt bool
	corruptAt                   int // byte to flip
	corruptXor                  byte
}

// decide draws the impairment decisions for a frame of n bytes. It draws the same numbers for
// every frame, whatever the outcome, so that the decisions for a frame depend only on the seed
// and on how many frames came before it.
func (q *queue) decide(n int) decision {
	im := &q.imp
	var d decision
	d.lose = q.rng.Float64() < im.Loss
	d.dup = q.rng.Float64() < im.Duplicate
	d.reorder = q.rng.Float64() < im.Reorder
	corrupt := q.rng.Float64() < im.Corrupt
	pos := q.rng.Uint64()
	if corrupt && n > 0 {
		d.corrupt = true
		// Flip a byte after the Ethernet header, where the IP and transport checksums cover
		// it; the Ethernet header has no checksum in a frame without FCS.
		first := 0
		if n > netstack.EthernetHeaderLen {
			first = netstack.EthernetHeaderLen
		}
		d.corruptAt = first + int(pos%uint64(n-first))
		d.corruptXor = byte(1 + (pos>>32)%255) // never zero: the byte always changes
	}
	return d
}

// corrupt flips b[at] with x and returns the offload metadata the corrupted frame is delivered
// with. A pending checksum is finalized first and the checksum flags are cleared, so that the
// receiver verifies the checksums and finds the damage instead of trusting the flags. GSO
// metadata is kept: the receiver takes a corrupted super-frame as one large segment.
func corrupt(b []byte, o netstack.Offload, at int, x byte) netstack.Offload {
	if o.Flags&netstack.FlagNeedsCsum != 0 {
		netstack.CompleteChecksum(b, o)
	}
	o.Flags = 0
	b[at] ^= x
	return o
}

// onesSum returns the 16-bit one's-complement sum of b (RFC 1071), an odd last byte padded
// with zero.
func onesSum(b []byte) uint16 {
	var s uint64
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v >> 32
		s += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
