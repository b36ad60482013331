package netstack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"
)

// ErrNoDNS is returned by lookups when the stack knows no DNS server.
var ErrNoDNS = errors.New("netstack: no DNS server configured")

// dnsServer is a DNS server the stack's resolver may query.
type dnsServer struct {
	addr   netip.Addr
	nic    *NIC
	static bool // from NICConfig.DNS rather than a lease
	// fromRA marks a server learned from a router advertisement (RDNSS), valid until expires.
	fromRA  bool
	expires time.Time
}

// Resolver returns a resolver that sends its DNS queries through the stack to the DNS servers
// configured on its NICs (NICConfig.DNS first, then those of DHCP leases), trying each in
// turn. It uses Go's own DNS client, so it needs nothing from the host.
func (s *Stack) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			servers := s.DNSServers()
			if len(servers) == 0 {
				return nil, ErrNoDNS
			}
			var firstErr error
			for _, a := range servers {
				c, err := s.DialAddr(ctx, network[:3], netip.AddrPortFrom(a, 53))
				if err == nil {
					return c, nil
				}
				if firstErr == nil {
					firstErr = err
				}
			}
			return nil, firstErr
		},
	}
}

// DNSServers returns the DNS servers the resolver queries, in order.
func (s *Stack) DNSServers() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.Addr, 0, len(s.dns))
	for _, d := range s.dns {
		if d.static {
			out = append(out, d.addr)
		}
	}
	now := time.Now()
	for _, d := range s.dns {
		if !d.static && !slices.Contains(out, d.addr) && (!d.fromRA || now.Before(d.expires)) {
			out = append(out, d.addr)
		}
	}
	return out
}

// setLeaseDNS replaces the DNS servers learned on n (by DHCP) with addrs.
func (s *Stack) setLeaseDNS(n *NIC, addrs []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dns = slices.DeleteFunc(s.dns, func(d dnsServer) bool { return d.nic == n && !d.static && !d.fromRA })
	for _, a := range addrs {
		s.dns = append(s.dns, dnsServer{addr: a, nic: n})
	}
}

// setRouterDNS records the DNS servers a router advertised on n, valid for life; a zero life
// withdraws them.
func (s *Stack) setRouterDNS(n *NIC, addrs []netip.Addr, life time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dns = slices.DeleteFunc(s.dns, func(d dnsServer) bool { return d.nic == n && d.fromRA && slices.Contains(addrs, d.addr) })
	if life <= 0 {
		return
	}
	for _, a := range addrs {
		s.dns = append(s.dns, dnsServer{addr: a, nic: n, fromRA: true, expires: time.Now().Add(life)})
	}
}
