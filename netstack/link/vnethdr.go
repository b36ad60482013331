package link

import (
	"encoding/binary"
	"errors"
)

// VirtioNetHdrLen is the length of the VIRTIO 1.x virtio_net_hdr including num_buffers, as used
// by virtio-net devices with VIRTIO_F_VERSION_1 and by Linux TAP after TUNSETVNETHDRSZ(12).
const VirtioNetHdrLen = 12

// ErrBadVirtioNetHdr is returned for a virtio_net_hdr that is inconsistent with its frame.
var ErrBadVirtioNetHdr = errors.New("link: invalid virtio_net_hdr")

// PutVirtioNetHdr writes o as a little-endian virtio_net_hdr into b, which must hold at least
// [VirtioNetHdrLen] bytes; num_buffers is written as zero.
func PutVirtioNetHdr(b []byte, o Offload) {
	_ = b[VirtioNetHdrLen-1]
	b[0] = byte(o.Flags)
	b[1] = byte(o.GSOType)
	binary.LittleEndian.PutUint16(b[2:], o.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], o.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], o.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], o.CsumOffset)
	binary.LittleEndian.PutUint16(b[10:], 0)
}

// ParseVirtioNetHdr reads a little-endian virtio_net_hdr from the first bytes of b (10 or more
// bytes; num_buffers is not read) and checks it against the length of the frame it describes.
// It rejects unknown flags and GSO types and checksum or header offsets outside the frame, so
// that what it returns is safe to act on; the frame itself comes from an untrusted peer.
func ParseVirtioNetHdr(b []byte, frameLen int) (Offload, error) {
	if len(b) < 10 {
		return Offload{}, ErrBadVirtioNetHdr
	}
	o := Offload{
		Flags:      OffloadFlags(b[0]),
		GSOType:    GSOType(b[1]),
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}
	if o.Flags&^(FlagNeedsCsum|FlagDataValid) != 0 {
		return Offload{}, ErrBadVirtioNetHdr
	}
	if o.Flags&FlagNeedsCsum != 0 && int(o.CsumStart)+int(o.CsumOffset)+2 > frameLen {
		return Offload{}, ErrBadVirtioNetHdr
	}
	switch o.GSOType &^ GSOECN {
	case GSONone:
		if o.GSOType != GSONone {
			return Offload{}, ErrBadVirtioNetHdr
		}
	case GSOTCPv4, GSOTCPv6, GSOUDP, GSOUDPL4:
		if o.GSOSize == 0 || int(o.HdrLen) > frameLen {
			return Offload{}, ErrBadVirtioNetHdr
		}
	default:
		return Offload{}, ErrBadVirtioNetHdr
	}
	return o, nil
}
