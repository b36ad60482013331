package netstack

// What a bound DHCP lease changes on its NIC, and how the client takes it back: the address
// with its subnet route, the MTU, the DNS servers of the stack's resolver, and the routes.

import "slices"

// bind applies the lease of an ACK to the NIC, changing only what differs from the lease it
// replaces: MTU, DNS servers, routes, and last the address with its subnet route, whose
// assignment is what NIC.WaitConfigured waits for; everything else is in place by then.
func (c *dhcpClient) bind(ack *dhcpReply) {
	ack.lease.Acquired = c.clock.Now()
	l := &ack.lease
	if l.MTU > c.n.link.MTU() {
		c.log.Warn("dhcp: lease MTU exceeds the link's, not applied", "mtu", l.MTU, "link", c.n.link.MTU())
		l.MTU = 0
	}
	var old dhcpReply // what the replaced lease applied; the zero value when there was none
	if c.applied != nil {
		old = *c.applied
	}
	oldAddr, oldRoutes := old.lease.Address, old.routes
	if oldAddr.IsValid() && oldAddr != l.Address {
		c.removeRoutes(oldRoutes)
		oldRoutes = nil
		if err := c.n.RemoveAddress(oldAddr); err != nil {
			c.log.Error("dhcp: removing old address", "err", err)
		}
	}

	if l.MTU != old.lease.MTU {
		c.applyMTU(l)
	}
	c.n.s.setLeaseDNS(c.n, l.DNS)
	for _, r := range oldRoutes {
		if !slices.Contains(ack.routes, r) {
			c.n.RemoveRoute(r.dst, r.gw)
		}
	}
	for _, r := range ack.routes {
		if !slices.Contains(oldRoutes, r) {
			c.n.AddRoute(r.dst, r.gw)
		}
	}
	c.publish(l)
	c.setUnconfigured(false)
	if l.Address != oldAddr {
		if err := c.n.AddAddress(l.Address); err != nil {
			c.log.Error("dhcp: assigning leased address", "err", err)
		}
	}
	c.applied = ack
	c.logBound(ack, l.Address == oldAddr)
}

// applyMTU sets the NIC's MTU to l's, or back to the link's when l has none, and forgets l's
// MTU when the NIC refuses it.
func (c *dhcpClient) applyMTU(l *Lease) {
	mtu := l.MTU
	if mtu == 0 {
		mtu = c.n.link.MTU()
	}
	if err := c.n.SetMTU(mtu); err != nil {
		c.log.Warn("dhcp: not applying MTU", "mtu", l.MTU, "err", err)
		l.MTU = 0
	}
}

// logBound logs the lease of ack once bound: at Info when it is new, at Debug when it renewed
// the address the NIC already had.
func (c *dhcpClient) logBound(ack *dhcpReply, renewed bool) {
	l := &ack.lease
	attrs := []any{"address", l.Address, "server", ack.server}
	if l.Gateway.IsValid() {
		attrs = append(attrs, "gateway", l.Gateway)
	}
	if len(l.DNS) > 0 {
		attrs = append(attrs, "dns", l.DNS)
	}
	if l.MTU > 0 {
		attrs = append(attrs, "mtu", l.MTU)
	}
	if l.Infinite {
		attrs = append(attrs, "lease", "infinite")
	} else {
		attrs = append(attrs, "lease", l.Duration, "t1", l.T1, "t2", l.T2)
	}
	if renewed {
		c.log.Debug("dhcp: lease renewed", attrs...)
	} else {
		c.log.Info("dhcp: lease bound", attrs...)
	}
}

// publish makes l the lease NIC.Lease reports.
func (c *dhcpClient) publish(l *Lease) {
	lc := *l
	c.mu.Lock()
	c.lease = &lc
	c.mu.Unlock()
}

// unbind removes everything the bound lease applied and assigns the placeholder address again.
func (c *dhcpClient) unbind() {
	old := c.applied
	if old == nil {
		return
	}
	c.mu.Lock()
	c.lease = nil
	c.mu.Unlock()
	c.applied = nil
	c.n.s.setLeaseDNS(c.n, nil)
	c.removeRoutes(old.routes)
	if err := c.n.RemoveAddress(old.lease.Address); err != nil {
		c.log.Error("dhcp: removing address", "err", err)
	}
	if old.lease.MTU != 0 {
		if err := c.n.SetMTU(c.n.link.MTU()); err != nil {
			c.log.Error("dhcp: restoring MTU", "err", err)
		}
	}
	c.setUnconfigured(true)
	c.log.Info("dhcp: lease removed", "address", old.lease.Address)
}

// removeRoutes removes routes from the NIC.
func (c *dhcpClient) removeRoutes(routes []dhcpRoute) {
	for _, r := range routes {
		c.n.RemoveRoute(r.dst, r.gw)
	}
}
