package tap

import (
	"encoding/binary"
	"math/bits"
)

// completeChecksum finishes a partial checksum (virtio_net_hdr NEEDS_CSUM): the field at
// start+offset holds the pseudo-header sum, and the Internet checksum (RFC 1071) of
// frame[start:] with that field in place goes into the field. The caller has checked that the
// field lies inside the frame. As Linux's skb_checksum_help does, a result of zero is stored
// as 0xffff, which is the same value in ones' complement and valid for UDP.
func completeChecksum(frame []byte, start, offset int) {
	c := ^fold(sum(frame[start:]))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[start+offset:], c)
}

// sum returns the ones' complement sum of b, as big-endian 16-bit words, in 64-bit form.
func sum(b []byte) uint64 {
	var acc, carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	acc, carry = bits.Add64(acc, 0, carry)
	var tail [8]byte
	copy(tail[:], b) // the odd bytes, padded with zeros on the right
	acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(tail[:]), 0)
	return acc + carry
}

// fold folds a 64-bit ones' complement sum into 16 bits.
func fold(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}
