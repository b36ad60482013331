package netstack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Listen announces on the stack's address. network is "tcp", "tcp4" or "tcp6"; address is
// "host:port" where an empty host means every address of the family (both for "tcp"). The
// listener is a *TCPListener and hands out *TCPConn; their errors have package net's shapes
// (errors.Is(err, syscall.EADDRINUSE) for a port in use, say).
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	fa, proto, err := s.localAddress("listen", network, address, "tcp")
	if err != nil {
		return nil, err
	}
	fail := func(call string, terr tcpip.Error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: tcpAddr(fa), Err: sysError(call, terr)}
	}
	wq := new(waiter.Queue)
	ep, terr := s.s.NewEndpoint(tcp.ProtocolNumber, proto, wq)
	if terr != nil {
		return nil, fail("socket", terr)
	}
	if terr := ep.Bind(fa); terr != nil {
		ep.Close()
		return nil, fail("bind", terr)
	}
	// The backlog bounds both the accept queue and the connections in SYN-RCVD; beyond it
	// gVisor answers SYNs with cookies and keeps no state, which bounds what a SYN flood costs.
	if terr := ep.Listen(s.cfg.ListenBacklog); terr != nil {
		ep.Close()
		return nil, fail("listen", terr)
	}
	return newTCPListener(network, wq, ep, s.budget), nil
}

// ListenPacket announces on the stack's address for datagrams. network is "udp", "udp4" or
// "udp6"; address is as for Listen. The connection is a *UDPConn.
func (s *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	fa, proto, err := s.localAddress("listen", network, address, "udp")
	if err != nil {
		return nil, err
	}
	fail := func(call string, terr tcpip.Error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: udpAddr(fa), Err: sysError(call, terr)}
	}
	wq := new(waiter.Queue)
	ep, terr := s.s.NewEndpoint(udp.ProtocolNumber, proto, wq)
	if terr != nil {
		return nil, fail("socket", terr)
	}
	if terr := ep.Bind(fa); terr != nil {
		ep.Close()
		return nil, fail("bind", terr)
	}
	return newUDPConn(network, wq, ep), nil
}

// Dial connects to address on the named network ("tcp", "tcp4", "tcp6", "udp", "udp4",
// "udp6") through the stack. A host name in address is resolved with [Stack.Resolver]; each
// resolved address is tried in turn until one connects or ctx ends. The connection is a
// *TCPConn or a *UDPConn. When ctx ends before a TCP handshake completes, the attempt is
// abandoned and the error wraps ctx's error as package net's Dialer does.
func (s *Stack) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	kind, family, err := parseNetwork(network)
	if err != nil {
		return nil, opError("dial", network, address, err)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opError("dial", network, address, err)
	}
	port, err := s.Resolver().LookupPort(ctx, kind, portStr)
	if err != nil {
		return nil, opError("dial", network, address, err)
	}
	addrs, err := s.lookup(ctx, host, family)
	if err != nil {
		return nil, opError("dial", network, address, err)
	}
	var firstErr error
	for _, a := range addrs {
		c, err := s.dialAddr(ctx, network, kind, netip.AddrPortFrom(a, uint16(port)))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, opError("dial", network, address, firstErr)
}

// DialAddr connects to ap over "tcp" or "udp" without name resolution.
func (s *Stack) DialAddr(ctx context.Context, kind string, ap netip.AddrPort) (net.Conn, error) {
	return s.dialAddr(ctx, kind, kind, ap)
}

// dialAddr connects to ap; kind is "tcp" or "udp", network the name the caller gave.
func (s *Stack) dialAddr(ctx context.Context, network, kind string, ap netip.AddrPort) (net.Conn, error) {
	if s.isClosed() {
		return nil, opError("dial", network, ap.String(), ErrStackClosed)
	}
	fa, proto := fullAddress(ap)
	switch kind {
	case "tcp":
		c, err := s.dialTCP(ctx, network, fa, proto)
		if err != nil {
			return nil, err
		}
		return c, nil
	case "udp":
		c, err := s.dialUDP(network, fa, proto)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, opError("dial", network, ap.String(), net.UnknownNetworkError(kind))
}

// lookup returns the addresses of host in the wanted family (0 means either), literal
// addresses without a query.
func (s *Stack) lookup(ctx context.Context, host string, family int) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	ips, err := s.Resolver().LookupNetIP(ctx, familyNetwork(family), host)
	if err != nil {
		return nil, err
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, nil
}

// localAddress parses a local address for Listen and ListenPacket.
func (s *Stack) localAddress(op, network, address, want string) (tcpip.FullAddress, tcpip.NetworkProtocolNumber, error) {
	if s.isClosed() {
		return tcpip.FullAddress{}, 0, opError(op, network, address, ErrStackClosed)
	}
	kind, family, err := parseNetwork(network)
	if err == nil && kind != want {
		err = net.UnknownNetworkError(network)
	}
	if err != nil {
		return tcpip.FullAddress{}, 0, opError(op, network, address, err)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return tcpip.FullAddress{}, 0, opError(op, network, address, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return tcpip.FullAddress{}, 0, opError(op, network, address, errors.New("invalid port"))
	}
	if host == "" {
		// gVisor endpoints of the IPv6 protocol without V6Only accept IPv4 too.
		proto := ipv6.ProtocolNumber
		if family == 4 {
			proto = ipv4.ProtocolNumber
		}
		return tcpip.FullAddress{Port: uint16(port)}, proto, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return tcpip.FullAddress{}, 0, opError(op, network, address, errors.New("host must be an IP address"))
	}
	fa, proto := fullAddress(netip.AddrPortFrom(a.Unmap(), uint16(port)))
	return fa, proto, nil
}

// parseNetwork splits "tcp4" into ("tcp", 4); family 0 means either.
func parseNetwork(network string) (kind string, family int, err error) {
	switch network {
	case "tcp", "udp":
		return network, 0, nil
	case "tcp4", "udp4":
		return network[:3], 4, nil
	case "tcp6", "udp6":
		return network[:3], 6, nil
	}
	return "", 0, net.UnknownNetworkError(network)
}

func familyNetwork(family int) string {
	switch family {
	case 4:
		return "ip4"
	case 6:
		return "ip6"
	}
	return "ip"
}
