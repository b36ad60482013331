package pipe

import (
	"github.com/unikit/unikit/netstack/link"
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
		if n > link.EthernetHeaderLen {
			first = link.EthernetHeaderLen
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
func corrupt(b []byte, o link.Offload, at int, x byte) link.Offload {
	if o.Flags&link.FlagNeedsCsum != 0 {
		link.CompleteChecksum(b, o)
	}
	o.Flags = 0
	b[at] ^= x
	return o
}
