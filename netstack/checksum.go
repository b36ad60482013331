package netstack

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// gVisor decides whether received checksums need verifying per NIC, not per packet: a NIC
// whose link has FeatureRxCsum is announced with CapabilityRXChecksumOffload, and the adapter
// verifies here, itself, every frame the link did not mark as FlagNeedsCsum or FlagDataValid.
// So does a NIC whose adapter coalesces received segments (gro.go), whatever its link; only
// frames of links without FeatureRxCsum on NICs with NICConfig.NoGRO are verified by gVisor.

// checksumsValid reports whether frame's IPv4 header checksum and its TCP, UDP, ICMP or
// ICMPv6 checksum are correct. Packets of other protocols, IPv4 fragments and IPv6 packets
// with extension headers have only what can be checked checked; malformed packets are left to
// gVisor's parser, which drops them.
func checksumsValid(frame []byte) bool {
	if len(frame) < header.EthernetMinimumSize {
		return false
	}
	pkt := frame[header.EthernetMinimumSize:]
	switch header.Ethernet(frame).Type() {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(pkt)
		if !ip.IsValid(len(pkt)) {
			return true // gVisor's parser rejects it
		}
		if !ip.IsChecksumValid() {
			return false
		}
		if ip.More() || ip.FragmentOffset() != 0 {
			return true
		}
		l4 := pkt[ip.HeaderLength():ip.TotalLength()]
		return transportChecksumValid(tcpip.TransportProtocolNumber(ip.Protocol()), ip.SourceAddress(), ip.DestinationAddress(), l4, false)
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(pkt)
		if !ip.IsValid(len(pkt)) {
			return true
		}
		l4 := pkt[header.IPv6MinimumSize : header.IPv6MinimumSize+int(ip.PayloadLength())]
		return transportChecksumValid(ip.TransportProtocol(), ip.SourceAddress(), ip.DestinationAddress(), l4, true)
	}
	return true
}

// transportChecksumValid checks the checksum of one transport segment l4.
func transportChecksumValid(proto tcpip.TransportProtocolNumber, src, dst tcpip.Address, l4 []byte, v6 bool) bool {
	var pseudo uint16
	switch proto {
	case header.TCPProtocolNumber:
		if len(l4) < header.TCPMinimumSize {
			return true
		}
	case header.UDPProtocolNumber:
		if len(l4) < header.UDPMinimumSize {
			return true
		}
		if !v6 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return true // IPv4 UDP without checksum
		}
	case header.ICMPv4ProtocolNumber:
		if v6 {
			return true
		}
		return checksum.Checksum(l4, 0) == 0xffff
	case header.ICMPv6ProtocolNumber:
		if !v6 {
			return true
		}
	default:
		return true
	}
	pseudo = header.PseudoHeaderChecksum(proto, src, dst, uint16(len(l4)))
	return checksum.Checksum(l4, pseudo) == 0xffff
}
