package observe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/unikit/unikit/netstack/link/pcap"
)

// ErrNotPcap is returned for input that is not an Ethernet capture in libpcap format.
var ErrNotPcap = errors.New("observe: not an Ethernet pcap capture")

// maxPcapRecord bounds a record's captured length, against a corrupt length field.
const maxPcapRecord = 1 << 20

// Segment is one TCP segment of a capture, as the time-sequence graph reads it.
type Segment struct {
	// Time is the capture's timestamp.
	Time time.Time
	// Src and Dst are its addresses.
	Src, Dst netip.AddrPort
	// Seq, Ack and Window are the header's fields (the window unscaled); Len is the payload's
	// length, SYN and FIN not counted.
	Seq, Ack uint32
	Window   uint16
	Len      int
	// Flags are the TCP flags (header.TCPFlags).
	Flags uint8
	// WindowScale is the SYN's window scale option, or -1 when the segment has none.
	WindowScale int
}

// ReadSegments reads the TCP segments of a libpcap capture of Ethernet frames (IPv4 or IPv6),
// skipping every other frame. The capture is untrusted: a truncated or malformed frame is
// skipped, a corrupt file an error after the segments read before it.
func ReadSegments(r io.Reader) ([]Segment, error) {
	var fh [pcap.FileHeaderLen]byte
	if _, err := io.ReadFull(r, fh[:]); err != nil {
		return nil, ErrNotPcap
	}
	var bo binary.ByteOrder = binary.LittleEndian
	var nano bool
	switch binary.LittleEndian.Uint32(fh[0:]) {
	case pcap.MagicMicroseconds:
	case pcap.MagicNanoseconds:
		nano = true
	default:
		bo = binary.BigEndian
		switch binary.BigEndian.Uint32(fh[0:]) {
		case pcap.MagicMicroseconds:
		case pcap.MagicNanoseconds:
			nano = true
		default:
			return nil, ErrNotPcap
		}
	}
	if bo.Uint32(fh[20:]) != pcap.LinkTypeEthernet {
		return nil, ErrNotPcap
	}
	var segs []Segment
	var rh [pcap.RecordHeaderLen]byte
	buf := make([]byte, 0, 2048)
	for {
		if _, err := io.ReadFull(r, rh[:]); err != nil {
			if err == io.EOF {
				return segs, nil
			}
			return segs, fmt.Errorf("observe: truncated capture: %w", err)
		}
		caplen := bo.Uint32(rh[8:])
		if caplen > maxPcapRecord {
			return segs, fmt.Errorf("observe: capture record of %d bytes: %w", caplen, ErrNotPcap)
		}
		if cap(buf) < int(caplen) {
			buf = make([]byte, caplen)
		}
		buf = buf[:caplen]
		if _, err := io.ReadFull(r, buf); err != nil {
			return segs, fmt.Errorf("observe: truncated capture: %w", err)
		}
		frac := int64(bo.Uint32(rh[4:]))
		if !nano {
			frac *= 1000
		}
		t := time.Unix(int64(bo.Uint32(rh[0:])), frac)
		if s, ok := parseSegment(buf); ok {
			s.Time = t
			segs = append(segs, s)
		}
	}
}

// parseSegment reads the TCP segment of one Ethernet frame.
func parseSegment(f []byte) (Segment, bool) {
	var s Segment
	if len(f) < header.EthernetMinimumSize {
		return s, false
	}
	eth := header.Ethernet(f)
	p := f[header.EthernetMinimumSize:]
	var src, dst netip.Addr
	var payload []byte
	switch eth.Type() {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(p)
		if len(p) < header.IPv4MinimumSize || ip.HeaderLength() < header.IPv4MinimumSize || int(ip.HeaderLength()) > len(p) ||
			ip.Protocol() != uint8(header.TCPProtocolNumber) || ip.FragmentOffset() != 0 {
			return s, false
		}
		total := int(ip.TotalLength())
		if total < int(ip.HeaderLength()) {
			return s, false
		}
		src, dst = netip.AddrFrom4(ip.SourceAddress().As4()), netip.AddrFrom4(ip.DestinationAddress().As4())
		payload = p[ip.HeaderLength():min(total, len(p))]
		s.Len = total - int(ip.HeaderLength()) // the original length, however much was captured
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(p)
		if len(p) < header.IPv6MinimumSize || ip.NextHeader() != uint8(header.TCPProtocolNumber) {
			return s, false
		}
		src, dst = netip.AddrFrom16(ip.SourceAddress().As16()), netip.AddrFrom16(ip.DestinationAddress().As16())
		payload = p[header.IPv6MinimumSize:]
		s.Len = int(ip.PayloadLength())
	default:
		return s, false
	}
	if len(payload) < header.TCPMinimumSize {
		return s, false
	}
	tcp := header.TCP(payload)
	off := int(tcp.DataOffset())
	if off < header.TCPMinimumSize || off > len(payload) || off > s.Len {
		return s, false
	}
	s.Src = netip.AddrPortFrom(src, tcp.SourcePort())
	s.Dst = netip.AddrPortFrom(dst, tcp.DestinationPort())
	s.Seq, s.Ack, s.Window, s.Flags = tcp.SequenceNumber(), tcp.AckNumber(), tcp.WindowSize(), uint8(tcp.Flags())
	s.Len -= off
	s.WindowScale = -1
	if s.Flags&uint8(header.TCPFlagSyn) != 0 {
		if o := header.ParseSynOptions(tcp.Options(), s.Flags&uint8(header.TCPFlagAck) != 0); o.WS >= 0 {
			s.WindowScale = o.WS
		}
	}
	return s, true
}
