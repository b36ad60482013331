package netstack

import (
	"net"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// fullAddress converts ap to gVisor's form, without allocating, and names its protocol. An
// IPv4-mapped IPv6 address becomes IPv4; an unspecified address becomes the empty one.
func fullAddress(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	a := ap.Addr().Unmap()
	fa := tcpip.FullAddress{Port: ap.Port()}
	if a.Is6() {
		if !a.IsUnspecified() {
			fa.Addr = tcpip.AddrFrom16(a.As16())
		}
		return fa, ipv6.ProtocolNumber
	}
	if a.Is4() && !a.IsUnspecified() {
		fa.Addr = tcpip.AddrFrom4(a.As4())
	}
	return fa, ipv4.ProtocolNumber
}

// addrPort converts gVisor's address to netip's without allocating; an empty address (a
// socket bound to every address) becomes the invalid netip.Addr, with the port kept.
func addrPort(fa tcpip.FullAddress) netip.AddrPort {
	var a netip.Addr
	switch fa.Addr.Len() {
	case 4:
		a = netip.AddrFrom4(fa.Addr.As4())
	case 16:
		a = netip.AddrFrom16(fa.Addr.As16())
	}
	return netip.AddrPortFrom(a, fa.Port)
}

// ipOf returns the IP of fa for a net.TCPAddr or net.UDPAddr: nil for an empty address, which
// such an address prints as ":port".
func ipOf(fa tcpip.FullAddress) net.IP {
	if fa.Addr.Len() == 0 {
		return nil
	}
	return net.IP(fa.Addr.AsSlice())
}

// tcpAddr returns fa as package net's TCP address.
func tcpAddr(fa tcpip.FullAddress) *net.TCPAddr {
	return &net.TCPAddr{IP: ipOf(fa), Port: int(fa.Port)}
}

// udpAddr returns fa as package net's UDP address.
func udpAddr(fa tcpip.FullAddress) *net.UDPAddr {
	return &net.UDPAddr{IP: ipOf(fa), Port: int(fa.Port)}
}

// localTCPAddr returns the local address of ep, nil if it has none.
func localTCPAddr(ep tcpip.Endpoint) *net.TCPAddr {
	fa, terr := ep.GetLocalAddress()
	if terr != nil {
		return nil
	}
	return tcpAddr(fa)
}

// remoteTCPAddr returns the remote address of ep, nil if it is not connected.
func remoteTCPAddr(ep tcpip.Endpoint) *net.TCPAddr {
	fa, terr := ep.GetRemoteAddress()
	if terr != nil {
		return nil
	}
	return tcpAddr(fa)
}
