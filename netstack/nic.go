package netstack

import (
	"context"
	"fmt"
	"github.com/unikit/unikit/netstack/link"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// NICConfig configures a NIC. The zero value, and a nil *NICConfig, mean: get an IPv4 address
// by DHCP and IPv6 addresses by SLAAC.
type NICConfig struct {
	// Name names the NIC in logs and stats; empty means "nicN".
	Name string

	// Addresses are static addresses with their prefix lengths. When empty, and NoDHCP is
	// false, a DHCPv4 client configures the NIC.
	Addresses []netip.Prefix

	// Gateway, if valid, becomes the default route for its address family through this NIC.
	Gateway netip.Addr

	// DNS are DNS servers for [Stack.Resolver], used before any learned by DHCP.
	DNS []netip.Addr

	// NoDHCP disables the DHCPv4 client even when Addresses is empty.
	NoDHCP bool

	// Promiscuous makes the NIC accept packets for any destination address and send from any
	// source address, as a gateway or a user-mode network's host side needs.
	Promiscuous bool

	// NoGRO turns off receive coalescing: the adapter otherwise merges the consecutive IPv4 TCP
	// segments of a flow that arrive in one batch from a link without FeatureRxGRO into one
	// packet of up to 64 KiB before TCP sees them, as Linux's GRO does (see gro.go).
	NoGRO bool

	// AckHold is how long the adapter may hold a pure TCP ACK back, for a segment of the same
	// connection that follows within that time to carry the acknowledgement instead (gVisor's
	// TCP has no delayed ACK: it acknowledges received data at once, and a response sent
	// microseconds later carries the same acknowledgement again). Duplicate ACKs, window
	// updates, ACKs with SACK blocks and ACKs of two full-sized segments or more are never
	// held. AckHold is where the hold starts; it judges itself over every 1,024 ACKs it held.
	// Where an eighth or more left on expiry and were then carried by their connection's
	// response (the peer sending nothing meanwhile: many connections on a busy machine
	// answer 10 ms or more after a request), it doubles itself, up to 32 ms (below the
	// shortest delayed ACK of Linux); where more than an eighth were neither carried nor
	// followed so (a peer may wait for them), it halves itself, not below AckHold; and where
	// fewer than half were carried otherwise, it pauses for a second and starts again from
	// AckHold. Zero means [DefaultAckHold]; negative turns the hold off.
	AckHold time.Duration
}

// NIC is one network interface of a [Stack], backed by a [link.Link].
type NIC struct {
	s    *Stack
	id   tcpip.NICID
	name string
	link link.Link
	ep   *endpoint

	counters nicCounters

	addrMu sync.Mutex
	// addrChanged is closed, and replaced, whenever the NIC's addresses change.
	addrChanged chan struct{}

	// dhcp is the NIC's DHCPv4 client state, owned by dhcp.go; nil for static NICs.
	dhcp *dhcpClient
}

// nicCounters are the adapter's own counters for a NIC, beside gVisor's and the link's.
type nicCounters struct {
	rxMalformed   atomic.Uint64
	rxBadChecksum atomic.Uint64
	txLinkErrors  atomic.Uint64
	linkChanges   atomic.Uint64
	// The ACK hold's (ackhold.go): ACKs it took, held ACKs a later segment made unnecessary,
	// held ACKs sent when their time was up, and the times it paused for want of success.
	ackHeld, ackSuperseded, ackExpired, ackPauses atomic.Uint64
}

// AddNIC adds a NIC backed by l, starts the link and configures addresses: the static ones in
// cfg, or a DHCPv4 client. The stack owns l from then on and closes it in Close.
func (s *Stack) AddNIC(l link.Link, cfg *NICConfig) (*NIC, error) {
	var c NICConfig
	if cfg != nil {
		c = *cfg
	}
	if s.isClosed() {
		return nil, ErrStackClosed
	}
	s.mu.Lock()
	id := tcpip.NICID(len(s.nics) + 1)
	if c.Name == "" {
		c.Name = fmt.Sprintf("nic%d", id)
	}
	n := &NIC{s: s, id: id, name: c.Name, link: l, addrChanged: make(chan struct{})}
	if c.AckHold == 0 {
		c.AckHold = DefaultAckHold
	}
	n.ep = newEndpoint(l, &n.counters, c.NoGRO, c.AckHold)
	// The DHCP client reads replies through a packet endpoint while it has no address (some
	// servers unicast them to the offered address); gVisor feeds packet endpoints only on
	// NICs created with DeliverLinkPackets, and the choice is fixed at creation. Only a NIC
	// without static addresses may run the client, so only it pays for the delivery (a lock
	// and map lookup per packet in each direction even with no packet endpoint open).
	// The queueing discipline is ours (qdisc.go): gVisor's default allocates per packet.
	opts := stack.NICOptions{Name: c.Name, DeliverLinkPackets: len(c.Addresses) == 0, QDisc: qdisc{n.ep}}
	if err := s.s.CreateNICWithOptions(id, n.ep, opts); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("netstack: creating NIC %s: %s", c.Name, err)
	}
	s.nics = append(s.nics, n)
	for _, d := range c.DNS {
		s.dns = append(s.dns, dnsServer{addr: d, nic: n, static: true})
	}
	s.mu.Unlock()

	if c.Promiscuous {
		s.s.SetPromiscuousMode(id, true)
		s.s.SetSpoofing(id, true)
	}
	for _, p := range c.Addresses {
		if err := n.AddAddress(p); err != nil {
			return nil, err
		}
	}
	if c.Gateway.IsValid() {
		n.AddRoute(netip.Prefix{}, c.Gateway)
	}
	if err := l.Start(n.ep); err != nil {
		return nil, fmt.Errorf("netstack: starting link of %s: %w", c.Name, err)
	}
	// DHCP hook: a NIC without static addresses gets a DHCPv4 client (dhcp.go), which runs
	// until the stack closes and uses AddAddress, RemoveAddress, AddRoute, SetMTU and
	// Stack.setLeaseDNS to apply its lease.
	if len(c.Addresses) == 0 && !c.NoDHCP {
		n.startDHCP()
	}
	return n, nil
}

// ID returns the NIC's identifier within its stack.
func (n *NIC) ID() int { return int(n.id) }

// Name returns the NIC's name.
func (n *NIC) Name() string { return n.name }

// Link returns the NIC's link.
func (n *NIC) Link() link.Link { return n.link }

// AddAddress assigns p's address to the NIC and adds a route to p's subnet through it.
func (n *NIC) AddAddress(p netip.Prefix) error {
	proto, addr := protocolAddress(p)
	if err := n.s.s.AddProtocolAddress(n.id, tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: addr}, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("netstack: adding %s to %s: %s", p, n.name, err)
	}
	n.s.s.AddRoute(tcpip.Route{Destination: addr.Subnet(), NIC: n.id})
	n.addressesChanged()
	return nil
}

// RemoveAddress removes p's address and the route to p's subnet from the NIC.
func (n *NIC) RemoveAddress(p netip.Prefix) error {
	_, addr := protocolAddress(p)
	if err := n.s.s.RemoveAddress(n.id, addr.Address); err != nil {
		return fmt.Errorf("netstack: removing %s from %s: %s", p, n.name, err)
	}
	subnet := addr.Subnet()
	n.s.s.RemoveRoutes(func(r tcpip.Route) bool { return r.NIC == n.id && r.Destination == subnet && r.Gateway.Len() == 0 })
	n.addressesChanged()
	return nil
}

// AddRoute adds a route to dst through gw on this NIC; the zero dst means the default route of
// gw's address family, and an invalid gw means dst is on-link.
func (n *NIC) AddRoute(dst netip.Prefix, gw netip.Addr) {
	n.s.s.AddRoute(n.route(dst, gw))
}

// RemoveRoute removes a route added with AddRoute.
func (n *NIC) RemoveRoute(dst netip.Prefix, gw netip.Addr) {
	want := n.route(dst, gw)
	n.s.s.RemoveRoutes(func(r tcpip.Route) bool { return r.Equal(want) })
}

func (n *NIC) route(dst netip.Prefix, gw netip.Addr) tcpip.Route {
	if !dst.IsValid() {
		if gw.Is6() {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		} else {
			dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
	}
	_, d := protocolAddress(dst)
	r := tcpip.Route{Destination: d.Subnet(), NIC: n.id}
	if gw.IsValid() {
		r.Gateway = tcpip.AddrFromSlice(gw.AsSlice())
	}
	return r
}

// SetMTU sets the NIC's MTU, for example from a DHCP lease; it cannot exceed the link's.
func (n *NIC) SetMTU(mtu int) error {
	if mtu < 576 || mtu > n.link.MTU() {
		return fmt.Errorf("netstack: MTU %d out of range [576, %d]", mtu, n.link.MTU())
	}
	if err := n.s.s.SetNICMTU(n.id, uint32(mtu)); err != nil {
		return fmt.Errorf("netstack: setting MTU of %s: %s", n.name, err)
	}
	return nil
}

// MTU returns the NIC's current MTU.
func (n *NIC) MTU() int { return int(n.ep.MTU()) }

// Addresses returns the NIC's addresses, IPv4 and IPv6, including SLAAC and link-local ones.
func (n *NIC) Addresses() []netip.Prefix {
	var out []netip.Prefix
	for _, pa := range n.s.s.AllAddresses()[n.id] {
		a, ok := netip.AddrFromSlice(pa.AddressWithPrefix.Address.AsSlice())
		// gVisor lists the limited broadcast address among a NIC's own, and the DHCP client
		// assigns 0.0.0.0 while it has no lease; neither is an address of the NIC's.
		if !ok || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			continue
		}
		out = append(out, netip.PrefixFrom(a, pa.AddressWithPrefix.PrefixLen))
	}
	return out
}

// WaitConfigured waits until the NIC has an IPv4 address, static or leased, and returns it.
// After a lease expires it waits for the next one. A ctx already done is an error even when
// an address is there, as with net.Dialer: a caller's deadline is never silently overrun.
func (n *NIC) WaitConfigured(ctx context.Context) (netip.Prefix, error) {
	for {
		if err := ctx.Err(); err != nil {
			return netip.Prefix{}, err
		}
		n.addrMu.Lock()
		changed := n.addrChanged
		n.addrMu.Unlock()
		for _, p := range n.Addresses() {
			if p.Addr().Is4() {
				return p, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return netip.Prefix{}, ctx.Err()
		case <-n.s.closed:
			return netip.Prefix{}, ErrStackClosed
		}
	}
}

// addressesChanged wakes WaitConfigured callers.
func (n *NIC) addressesChanged() {
	n.addrMu.Lock()
	close(n.addrChanged)
	n.addrChanged = make(chan struct{})
	n.addrMu.Unlock()
}

// protocolAddress converts p to gVisor's form.
func protocolAddress(p netip.Prefix) (tcpip.NetworkProtocolNumber, tcpip.AddressWithPrefix) {
	proto := ipv4.ProtocolNumber
	if p.Addr().Is6() && !p.Addr().Is4In6() {
		proto = ipv6.ProtocolNumber
	}
	return proto, tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(p.Addr().Unmap().AsSlice()), PrefixLen: p.Bits()}
}

// addrFrom converts a gVisor address to netip.
func addrFrom(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip
}
