package linktest

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/unikit/unikit/netstack/link"
)

// Header lengths of the frames [Packet] builds.
const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	// TCPHeaderLen is the TCP header of every TCP frame Packet builds: 20 bytes and a
	// timestamp option (NOP, NOP, TS), as Linux and gVisor send on established connections.
	TCPHeaderLen = 32
)

// TCP flags Packet sets.
const (
	tcpFlagPSH = 0x08
	tcpFlagACK = 0x10
)

// Default addresses of a [Packet] that names none: from the range reserved for benchmarking
// network devices (RFC 2544) and from a unique local IPv6 prefix, so that test frames never
// mean anything to a host that sees them. Unexported so that no test can change another's.
var (
	defaultSrc4 = netip.MustParseAddr("198.18.0.1")
	defaultDst4 = netip.MustParseAddr("198.18.0.2")
	defaultSrc6 = netip.MustParseAddr("fd00:6c6b:7465:7374::1")
	defaultDst6 = netip.MustParseAddr("fd00:6c6b:7465:7374::2")
)

// Packet describes an Ethernet frame carrying one TCP or UDP packet over IPv4 or IPv6, and
// builds it with correct checksums ([Packet.Frame]), with the partial checksum a stack using
// checksum offload writes ([Packet.PartialFrame]) or as a TSO super-frame ([Packet.TSOFrame]).
type Packet struct {
	// SrcMAC and DstMAC are the Ethernet addresses; nil means all zeros.
	SrcMAC, DstMAC net.HardwareAddr
	// IPv6 selects IPv6; otherwise the packet is IPv4.
	IPv6 bool
	// SrcIP and DstIP are the IP addresses, of the family IPv6 selects. The zero Addr means
	// 198.18.0.1 and .2, or fd00:6c6b:7465:7374::1 and ::2.
	SrcIP, DstIP netip.Addr
	// TCP selects TCP; otherwise the packet is UDP.
	TCP bool
	// SrcPort and DstPort are the transport ports.
	SrcPort, DstPort uint16
	// Seq and Ack are the TCP sequence and acknowledgment numbers.
	Seq, Ack uint32
	// IPID is the IPv4 identification.
	IPID uint16
	// Payload follows the transport header.
	Payload []byte
}

// HeaderLen returns the length of the packet's headers, Ethernet to transport.
func (p *Packet) HeaderLen() int {
	n := link.EthernetHeaderLen + ipv4HeaderLen
	if p.IPv6 {
		n = link.EthernetHeaderLen + ipv6HeaderLen
	}
	if p.TCP {
		return n + TCPHeaderLen
	}
	return n + udpHeaderLen
}

// Frame returns the packet as an Ethernet frame with every checksum complete.
func (p *Packet) Frame() []byte {
	b, o := p.build()
	link.CompleteChecksum(b, o)
	return b
}

// PartialFrame returns the packet as a stack using checksum offload transmits it: the
// transport checksum field holds the pseudo-header sum and the offload metadata says
// [link.FlagNeedsCsum] with where the checksum starts and is stored.
func (p *Packet) PartialFrame() ([]byte, link.Offload) {
	return p.build()
}

// TSOFrame returns the packet, which must be TCP, as a TSO super-frame to be cut into
// segments of mss payload bytes: [link.GSOTCPv4] or [link.GSOTCPv6] with
// [link.FlagNeedsCsum] and, in the checksum field, the pseudo-header sum over the whole
// super-frame's TCP length, as Linux and gVisor write it.
func (p *Packet) TSOFrame(mss int) ([]byte, link.Offload) {
	if !p.TCP || mss <= 0 || mss > 0xffff {
		panic(fmt.Sprintf("linktest: TSOFrame of a UDP packet or with MSS %d", mss))
	}
	b, o := p.build()
	o.GSOType = link.GSOTCPv4
	if p.IPv6 {
		o.GSOType = link.GSOTCPv6
	}
	o.GSOSize = uint16(mss)
	o.HdrLen = uint16(p.HeaderLen())
	return b, o
}

// build writes the frame with the pseudo-header sum in the transport checksum field and
// returns it with the matching NeedsCsum metadata.
func (p *Packet) build() ([]byte, link.Offload) {
	hdr := p.HeaderLen()
	b := make([]byte, hdr+len(p.Payload))
	copy(b[0:6], p.DstMAC)
	copy(b[6:12], p.SrcMAC)
	l3 := link.EthernetHeaderLen
	src, dst := p.addrs()
	var l4 int
	if p.IPv6 {
		binary.BigEndian.PutUint16(b[12:], link.EtherTypeIPv6)
		l4 = l3 + ipv6HeaderLen
		ip := b[l3:l4]
		ip[0] = 0x60
		payloadLen := len(b) - l4
		if payloadLen > 0xffff {
			panic(fmt.Sprintf("linktest: IPv6 payload of %d bytes needs a jumbogram", payloadLen))
		}
		binary.BigEndian.PutUint16(ip[4:], uint16(payloadLen))
		ip[6] = p.proto()
		ip[7] = 64
		s, d := src.As16(), dst.As16()
		copy(ip[8:24], s[:])
		copy(ip[24:40], d[:])
	} else {
		binary.BigEndian.PutUint16(b[12:], link.EtherTypeIPv4)
		l4 = l3 + ipv4HeaderLen
		ip := b[l3:l4]
		ip[0] = 0x45
		total := len(b) - l3
		if total > 0xffff {
			panic(fmt.Sprintf("linktest: IPv4 packet of %d bytes", total))
		}
		binary.BigEndian.PutUint16(ip[2:], uint16(total))
		binary.BigEndian.PutUint16(ip[4:], p.IPID)
		ip[6] = 0x40 // don't fragment, as TCP and most UDP senders set it
		ip[8] = 64
		ip[9] = p.proto()
		s, d := src.As4(), dst.As4()
		copy(ip[12:16], s[:])
		copy(ip[16:20], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^link.Checksum(ip, 0))
	}
	t := b[l4:]
	binary.BigEndian.PutUint16(t[0:], p.SrcPort)
	binary.BigEndian.PutUint16(t[2:], p.DstPort)
	csumOff := 6
	if p.TCP {
		binary.BigEndian.PutUint32(t[4:], p.Seq)
		binary.BigEndian.PutUint32(t[8:], p.Ack)
		t[12] = TCPHeaderLen / 4 << 4
		t[13] = tcpFlagACK | tcpFlagPSH
		binary.BigEndian.PutUint16(t[14:], 0xffff) // window
		copy(t[20:TCPHeaderLen], []byte{1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78})
		csumOff = 16
	} else {
		if len(t) > 0xffff {
			panic(fmt.Sprintf("linktest: UDP datagram of %d bytes", len(t)))
		}
		binary.BigEndian.PutUint16(t[4:], uint16(len(t)))
	}
	copy(b[hdr:], p.Payload)
	binary.BigEndian.PutUint16(t[csumOff:], pseudoHeaderSum(p.IPv6, b[l3:l4], p.proto(), len(t)))
	return b, link.Offload{Flags: link.FlagNeedsCsum, CsumStart: uint16(l4), CsumOffset: uint16(csumOff)}
}

func (p *Packet) proto() uint8 {
	if p.TCP {
		return link.ProtoTCP
	}
	return link.ProtoUDP
}

// addrs returns the packet's addresses with the defaults filled in.
func (p *Packet) addrs() (src, dst netip.Addr) {
	src, dst = p.SrcIP, p.DstIP
	if p.IPv6 {
		if !src.IsValid() {
			src = defaultSrc6
		}
		if !dst.IsValid() {
			dst = defaultDst6
		}
		if !src.Is6() || !dst.Is6() {
			panic(fmt.Sprintf("linktest: IPv6 packet from %v to %v", src, dst))
		}
		return src, dst
	}
	if !src.IsValid() {
		src = defaultSrc4
	}
	if !dst.IsValid() {
		dst = defaultDst4
	}
	if !src.Is4() || !dst.Is4() {
		panic(fmt.Sprintf("linktest: IPv4 packet from %v to %v", src, dst))
	}
	return src, dst
}

// pseudoHeaderSum returns the ones' complement sum (not complemented) of the TCP/UDP
// pseudo-header for the IP header ip and a transport segment of l4Len bytes.
func pseudoHeaderSum(v6 bool, ip []byte, proto uint8, l4Len int) uint16 {
	var addrs []byte
	if v6 {
		addrs = ip[8:40]
	} else {
		addrs = ip[12:20]
	}
	var rest [4]byte
	rest[1] = proto
	binary.BigEndian.PutUint16(rest[2:], uint16(l4Len))
	return link.Checksum(rest[:], link.Checksum(addrs, 0))
}
