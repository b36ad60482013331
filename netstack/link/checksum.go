package link

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the 16-bit ones' complement sum (RFC 1071) of b added to initial, not
// complemented: a region whose checksum field is correct sums to 0xffff. An odd final byte is
// padded with zero, as the Internet checksum requires.
func Checksum(b []byte, initial uint16) uint16 {
	// Sum 64 bits at a time with end-around carry; the ones' complement sum is independent of
	// byte order as long as it is folded back the same way (RFC 1071 section 2(B)), so the
	// words are read big-endian to match the wire.
	var sum uint64 = uint64(initial)
	var carry uint64
	for len(b) >= 32 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), 0)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[8:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[16:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[24:]), carry)
		sum += carry
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), 0)
		sum += carry
		b = b[8:]
	}
	if len(b) >= 4 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint32(b)), 0)
		sum += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint16(b)), 0)
		sum += carry
		b = b[2:]
	}
	if len(b) == 1 {
		sum, carry = bits.Add64(sum, uint64(b[0])<<8, 0)
		sum += carry
	}
	// Fold 64 bits to 16 with end-around carries.
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// CompleteChecksum finishes the partial checksum of a frame marked [FlagNeedsCsum], as a NIC
// or Linux's skb_checksum_help does: the field at CsumStart+CsumOffset holds the
// pseudo-header sum, and the Internet checksum (RFC 1071) of frame[CsumStart:] with that
// field in place is stored into it. A result of zero is stored as 0xffff, the same value in
// ones' complement and the one UDP requires. Offsets outside frame leave it unchanged and
// CompleteChecksum reports false.
func CompleteChecksum(frame []byte, o Offload) bool {
	start, at := int(o.CsumStart), int(o.CsumStart)+int(o.CsumOffset)
	if start > len(frame) || at+2 > len(frame) {
		return false
	}
	sum := ^Checksum(frame[start:], 0)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(frame[at:], sum)
	return true
}
