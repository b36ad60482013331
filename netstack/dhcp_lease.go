package netstack

// Decoding and validation of DHCP servers' replies. Everything here comes from the network
// and is untrusted: a reply that is not for this client or leases nothing usable is refused,
// and unusable optional parts are left out, so the state machine only ever sees a lease it can
// apply.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Bounds on what a reply may make the client do.
const (
	// dhcpMinLease bounds a lease from below, so a server that hands out zero-second leases
	// cannot make the client spin.
	dhcpMinLease = 10 * time.Second
	// dhcpMaxDNS bounds how many DNS servers and routes of a reply are used.
	dhcpMaxDNS    = 8
	dhcpMaxRoutes = 32
	// dhcpMinMTU is the smallest MTU option (26) applied; smaller values are ignored.
	dhcpMinMTU = 576
	// dhcpInfinite is the lease time that never expires (RFC 2131 section 3.3).
	dhcpInfinite = 0xffffffff
)

// dhcpRoute is a route a lease installs: dst through gw, or on-link when gw is invalid.
type dhcpRoute struct {
	dst netip.Prefix
	gw  netip.Addr
}

// dhcpReply is a validated reply from a DHCP server.
type dhcpReply struct {
	typ    dhcpv4.MessageType // OFFER, ACK or NAK
	xid    dhcpv4.TransactionID
	server netip.Addr // option 54, else the packet's source address
	lease  Lease      // OFFER and ACK; Acquired is set when bound
	routes []dhcpRoute
	msg    string // option 56 of a NAK
}

// Errors of parseDHCPReply.
var (
	errDHCPNotReply = errors.New("not a DHCP reply to this client")
	errDHCPInvalid  = errors.New("invalid DHCP reply")
)

// parseDHCPReply decodes and validates b, a UDP payload from port 67 and therefore untrusted:
// it must be a BOOTREPLY for the Ethernet address mac carrying an OFFER, ACK or NAK, and an
// OFFER or ACK must lease a usable unicast address for a known time. src is the packet's
// source address, the server's identity when the reply lacks option 54. Unusable optional
// parts (a router, DNS server or route that is not a unicast address, an MTU below 576) are
// left out rather than failing the reply.
func parseDHCPReply(b []byte, mac net.HardwareAddr, src netip.Addr) (*dhcpReply, error) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDHCPInvalid, err)
	}
	if m.OpCode != dhcpv4.OpcodeBootReply || m.HWType != iana.HWTypeEthernet || !slices.Equal(m.ClientHWAddr, mac) {
		return nil, errDHCPNotReply
	}
	r := &dhcpReply{typ: m.MessageType(), xid: m.TransactionID, server: src}
	if sid, ok := ip4Option(m.Options, dhcpv4.OptionServerIdentifier); ok && isUnicast4(sid) {
		r.server = sid
	}
	switch r.typ {
	case dhcpv4.MessageTypeNak:
		r.msg = m.Message()
		if len(r.msg) > 255 {
			r.msg = r.msg[:255]
		}
		return r, nil
	case dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeAck:
	default:
		return nil, errDHCPNotReply
	}
	if !isUnicast4(r.server) {
		return nil, fmt.Errorf("%w: no server identifier", errDHCPInvalid)
	}
	if err := parseLease(&r.lease, m); err != nil {
		return nil, err
	}
	r.lease.Server = r.server
	r.routes = leaseRoutes(&r.lease, parseClasslessRoutes(m.Options.Get(dhcpv4.OptionClasslessStaticRoute)))
	return r, nil
}

// parseLease fills l from an OFFER or ACK: the leased address and its prefix, which must be
// usable, the lease times, which must be present, and what is usable of the gateway, DNS
// servers and MTU.
func parseLease(l *Lease, m *dhcpv4.DHCPv4) error {
	yiaddr, ok := netip.AddrFromSlice(m.YourIPAddr)
	if !ok || !isUnicast4(yiaddr.Unmap()) {
		return fmt.Errorf("%w: leased address %v", errDHCPInvalid, m.YourIPAddr)
	}
	yiaddr = yiaddr.Unmap()
	bits, err := prefixLen(m.Options.Get(dhcpv4.OptionSubnetMask), yiaddr)
	if err != nil {
		return fmt.Errorf("%w: %w", errDHCPInvalid, err)
	}
	l.Address = netip.PrefixFrom(yiaddr, bits)
	if err := parseLeaseTimes(l, m.Options); err != nil {
		return err
	}

	for _, a := range ip4List(m.Options.Get(dhcpv4.OptionRouter)) {
		if isUnicast4(a) && a != yiaddr {
			l.Gateway = a
			break
		}
	}
	for _, a := range ip4List(m.Options.Get(dhcpv4.OptionDomainNameServer)) {
		if len(l.DNS) < dhcpMaxDNS && isUnicast4(a) && !slices.Contains(l.DNS, a) {
			l.DNS = append(l.DNS, a)
		}
	}
	if v := m.Options.Get(dhcpv4.OptionInterfaceMTU); len(v) == 2 {
		if mtu := int(binary.BigEndian.Uint16(v)); mtu >= dhcpMinMTU {
			l.MTU = mtu
		}
	}
	return nil
}

// parseLeaseTimes sets l's lease time from option 51, which is required, and T1 and T2 from
// options 58 and 59 when they are consistent with it (0 < T1 <= T2 < lease time), else half
// and seven eighths of the lease time. A lease of under dhcpMinLease is stretched to it.
func parseLeaseTimes(l *Lease, o dhcpv4.Options) error {
	lt := o.Get(dhcpv4.OptionIPAddressLeaseTime)
	if len(lt) != 4 {
		return fmt.Errorf("%w: no lease time", errDHCPInvalid)
	}
	secs := binary.BigEndian.Uint32(lt)
	if secs == dhcpInfinite {
		l.Infinite = true
		return nil
	}
	l.Duration = max(time.Duration(secs)*time.Second, dhcpMinLease)
	// Duration/8*7, not Duration*7/8: seven times a lease of more than about 41 years (a
	// server may offer up to 0xfffffffe seconds) overflows time.Duration and would make T1 and
	// T2 negative. Duration is a whole number of seconds in nanoseconds, so divisible by 8.
	l.T1, l.T2 = l.Duration/2, l.Duration/8*7
	t1, ok1 := seconds(o.Get(dhcpv4.OptionRenewTimeValue))
	t2, ok2 := seconds(o.Get(dhcpv4.OptionRebindingTimeValue))
	if ok2 && t2 > 0 && t2 < l.Duration {
		l.T2 = t2
	}
	if ok1 && t1 > 0 && t1 <= l.T2 {
		l.T1 = t1
	}
	l.T1 = min(l.T1, l.T2)
	return nil
}

// leaseRoutes returns the routes a lease installs besides its subnet route: the classless
// routes when there are any (RFC 3442 says the router option is then ignored), else a default
// route through the gateway. A gateway outside the subnet first gets an on-link host route.
func leaseRoutes(l *Lease, classless []dhcpRoute) []dhcpRoute {
	var routes []dhcpRoute
	add := func(r dhcpRoute) {
		if r.gw.IsValid() && !l.Address.Contains(r.gw) {
			onlink := dhcpRoute{dst: netip.PrefixFrom(r.gw, 32)}
			if !slices.Contains(routes, onlink) {
				routes = append(routes, onlink)
			}
		}
		if !slices.Contains(routes, r) {
			routes = append(routes, r)
		}
	}
	if len(classless) == 0 {
		if l.Gateway.IsValid() {
			add(dhcpRoute{dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), gw: l.Gateway})
		}
		return routes
	}
	for _, r := range classless {
		if r.dst == l.Address.Masked() && !r.gw.IsValid() {
			continue // the subnet route comes with the address
		}
		if r.gw == l.Address.Addr() {
			continue
		}
		add(r)
	}
	return routes
}

// parseClasslessRoutes decodes option 121 (RFC 3442): each route is a prefix length, the
// significant octets of the destination, and a router, where 0.0.0.0 means on-link. A
// malformed option yields no routes at all, as the RFC asks.
func parseClasslessRoutes(b []byte) []dhcpRoute {
	var routes []dhcpRoute
	for len(b) > 0 {
		bits := int(b[0])
		if bits > 32 {
			return nil
		}
		n := (bits + 7) / 8
		if len(b) < 1+n+4 {
			return nil
		}
		var dst [4]byte
		copy(dst[:], b[1:1+n])
		gw := netip.AddrFrom4([4]byte(b[1+n : 1+n+4]))
		b = b[1+n+4:]
		r := dhcpRoute{dst: netip.PrefixFrom(netip.AddrFrom4(dst), bits).Masked()}
		switch {
		case gw.IsUnspecified():
		case isUnicast4(gw):
			r.gw = gw
		default:
			continue
		}
		if len(routes) < dhcpMaxRoutes && !slices.Contains(routes, r) {
			routes = append(routes, r)
		}
	}
	return routes
}

// prefixLen returns the prefix length of a subnet mask option, or the classful default
// (RFC 1122 section 3.3.1.1's historical rule) when the option is absent.
func prefixLen(mask []byte, a netip.Addr) (int, error) {
	if mask == nil {
		switch b := a.As4()[0]; {
		case b < 128:
			return 8, nil
		case b < 192:
			return 16, nil
		default:
			return 24, nil
		}
	}
	if len(mask) != 4 {
		return 0, fmt.Errorf("subnet mask of %d bytes", len(mask))
	}
	ones, bits := net.IPMask(mask).Size()
	if bits == 0 || ones == 0 {
		return 0, fmt.Errorf("subnet mask %v", net.IP(mask))
	}
	return ones, nil
}

// seconds decodes a 4-byte time option.
func seconds(b []byte) (time.Duration, bool) {
	if len(b) != 4 {
		return 0, false
	}
	return time.Duration(binary.BigEndian.Uint32(b)) * time.Second, true
}

// ip4Option decodes a single-address option.
func ip4Option(o dhcpv4.Options, code dhcpv4.OptionCode) (netip.Addr, bool) {
	v := o.Get(code)
	if len(v) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v)), true
}

// ip4List decodes an address-list option; trailing bytes that do not make an address are
// ignored.
func ip4List(b []byte) []netip.Addr {
	out := make([]netip.Addr, 0, len(b)/4)
	for ; len(b) >= 4; b = b[4:] {
		out = append(out, netip.AddrFrom4([4]byte(b[:4])))
	}
	return out
}

// isUnicast4 reports whether a is an IPv4 address a host may use: not unspecified, broadcast,
// multicast, loopback or in 240.0.0.0/4.
func isUnicast4(a netip.Addr) bool {
	if !a.Is4() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
		return false
	}
	return a.As4()[0] < 240
}
