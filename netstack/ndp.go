package netstack

import (
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ndpEvents is how many NDP events may wait for the stack's NDP goroutine; beyond it events
// are dropped (and logged), since gVisor's dispatcher must not block.
const ndpEvents = 64

// ndpEvent is a route or DNS change learned from a router advertisement, applied to the stack
// outside gVisor's NDP callbacks, which must not call into the stack.
type ndpEvent struct {
	nic     tcpip.NICID
	route   tcpip.Route
	remove  bool
	dns     []netip.Addr // for an RDNSS option; route is then unused
	isDNS   bool
	dnsLife time.Duration
}

// ndpDispatcher implements ipv6.NDPDispatcher for SLAAC: gVisor discovers on-link prefixes,
// default routers and recursive DNS servers, and leaves it to the integrator to install
// routes and use the servers.
type ndpDispatcher struct {
	events chan ndpEvent
	s      *Stack
}

var _ ipv6.NDPDispatcher = (*ndpDispatcher)(nil)

func newNDPDispatcher() *ndpDispatcher {
	return &ndpDispatcher{events: make(chan ndpEvent, ndpEvents)}
}

func (d *ndpDispatcher) post(e ndpEvent) {
	select {
	case d.events <- e:
	default:
		if d.s != nil {
			d.s.log.Warn("netstack: NDP event dropped, queue full", "nic", e.nic)
		}
	}
}

// run applies NDP events until the stack closes.
func (d *ndpDispatcher) run() {
	for {
		select {
		case e := <-d.events:
			d.apply(e)
		case <-d.s.closed:
			return
		}
	}
}

func (d *ndpDispatcher) apply(e ndpEvent) {
	s := d.s
	if e.isDNS {
		s.mu.Lock()
		var n *NIC
		for _, c := range s.nics {
			if c.id == e.nic {
				n = c
			}
		}
		s.mu.Unlock()
		if n != nil {
			s.setRouterDNS(n, e.dns, e.dnsLife)
		}
		return
	}
	if e.remove {
		s.s.RemoveRoutes(func(r tcpip.Route) bool { return r.Equal(e.route) })
		return
	}
	s.s.AddRoute(e.route)
}

// OnDuplicateAddressDetectionResult implements ipv6.NDPDispatcher.
func (d *ndpDispatcher) OnDuplicateAddressDetectionResult(tcpip.NICID, tcpip.Address, stack.DADResult) {
}

// OnOffLinkRouteUpdated implements ipv6.NDPDispatcher: a default router was discovered.
func (d *ndpDispatcher) OnOffLinkRouteUpdated(nic tcpip.NICID, dst tcpip.Subnet, router tcpip.Address, _ header.NDPRoutePreference) {
	d.post(ndpEvent{nic: nic, route: tcpip.Route{Destination: dst, Gateway: router, NIC: nic}})
}

// OnOffLinkRouteInvalidated implements ipv6.NDPDispatcher.
func (d *ndpDispatcher) OnOffLinkRouteInvalidated(nic tcpip.NICID, dst tcpip.Subnet, router tcpip.Address) {
	d.post(ndpEvent{nic: nic, route: tcpip.Route{Destination: dst, Gateway: router, NIC: nic}, remove: true})
}

// OnOnLinkPrefixDiscovered implements ipv6.NDPDispatcher: the prefix is reachable directly.
func (d *ndpDispatcher) OnOnLinkPrefixDiscovered(nic tcpip.NICID, prefix tcpip.Subnet) {
	d.post(ndpEvent{nic: nic, route: tcpip.Route{Destination: prefix, NIC: nic}})
}

// OnOnLinkPrefixInvalidated implements ipv6.NDPDispatcher.
func (d *ndpDispatcher) OnOnLinkPrefixInvalidated(nic tcpip.NICID, prefix tcpip.Subnet) {
	d.post(ndpEvent{nic: nic, route: tcpip.Route{Destination: prefix, NIC: nic}, remove: true})
}

// OnAutoGenAddress implements ipv6.NDPDispatcher; SLAAC addresses need no action here.
func (d *ndpDispatcher) OnAutoGenAddress(tcpip.NICID, tcpip.AddressWithPrefix) stack.AddressDispatcher {
	return nil
}

// OnAutoGenAddressDeprecated implements ipv6.NDPDispatcher.
func (d *ndpDispatcher) OnAutoGenAddressDeprecated(tcpip.NICID, tcpip.AddressWithPrefix) {}

// OnAutoGenAddressInvalidated implements ipv6.NDPDispatcher.
func (d *ndpDispatcher) OnAutoGenAddressInvalidated(tcpip.NICID, tcpip.AddressWithPrefix) {}

// OnRecursiveDNSServerOption implements ipv6.NDPDispatcher: RDNSS servers become resolver
// servers of the NIC for their lifetime (zero removes them).
func (d *ndpDispatcher) OnRecursiveDNSServerOption(nic tcpip.NICID, addrs []tcpip.Address, life time.Duration) {
	servers := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		servers = append(servers, addrFrom(a))
	}
	d.post(ndpEvent{nic: nic, isDNS: true, dns: servers, dnsLife: life})
}

// OnDNSSearchListOption implements ipv6.NDPDispatcher; search lists are not used.
func (d *ndpDispatcher) OnDNSSearchListOption(tcpip.NICID, []string, time.Duration) {}

// OnDHCPv6Configuration implements ipv6.NDPDispatcher; there is no DHCPv6 client.
func (d *ndpDispatcher) OnDHCPv6Configuration(tcpip.NICID, ipv6.DHCPv6ConfigurationFromNDPRA) {}
