package netstack

// The DHCP client's lifecycle (RFC 2131 section 4.4). INIT sends DISCOVER and retransmits it
// after 4, 8, 16, 32 and then every 64 seconds, each ±1 s at random (section 4.1), until an
// OFFER arrives; REQUESTING sends REQUEST with the same backoff and returns to INIT after four
// unanswered retransmissions or a NAK. BOUND applies the lease: address and subnet route,
// default route (option 3) or classless routes (option 121, which takes precedence per RFC
// 3442), DNS servers (option 6) for the stack's resolver, and MTU (option 26). At T1 RENEWING
// unicasts REQUEST to the server that granted the lease, at T2 REBINDING broadcasts it, each
// retransmitting after half the remaining time down to 60 s (section 4.4.5). A NAK in either
// state, or expiry, removes everything the lease applied and restarts at INIT. An infinite
// lease (0xffffffff, as passt gives) is never renewed.

import (
	"errors"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Outcomes of keep besides errDHCPStopped.
var (
	errDHCPExpired = errors.New("lease expired")
	errDHCPNAK     = errors.New("server refused the lease")
)

// run is the client's state machine. It returns when done is closed.
func (c *dhcpClient) run(done <-chan struct{}) {
	var hint netip.Addr
	for {
		c.setUnconfigured(true)
		ack := c.acquire(done, hint)
		if ack == nil {
			return
		}
		c.bind(ack)
		out := c.keep(done)
		if out == errDHCPStopped {
			return
		}
		hint = netip.Addr{}
		if out == errDHCPExpired {
			hint = c.applied.lease.Address.Addr()
		}
		c.unbind()
	}
}

// acquire runs INIT, SELECTING and REQUESTING until a server ACKs a lease, and returns the ACK,
// or nil when done is closed. hint is an address to ask for again, or invalid.
func (c *dhcpClient) acquire(done <-chan struct{}, hint netip.Addr) *dhcpReply {
	naks := 0
	for {
		// Consecutive NAKs: back off so a confused server is not flooded.
		if naks > 1 && !c.sleep(done, jitter(backoff(naks-2))) {
			return nil
		}
		xid := dhcpXID()
		start := c.clock.Now()
		offer, err := c.discover(done, xid, start, hint)
		if err != nil {
			return nil
		}
		reply, err := c.request(done, xid, start, offer)
		switch {
		case err != nil:
			return nil
		case reply == nil:
			c.log.Info("dhcp: no ACK to REQUEST, restarting discovery", "server", offer.server)
			naks = 0
		case reply.typ == dhcpv4.MessageTypeNak:
			c.log.Warn("dhcp: NAK to REQUEST, restarting discovery", "server", reply.server, "message", reply.msg)
			naks++
			hint = netip.Addr{}
		default:
			return reply
		}
	}
}

// discover is INIT and SELECTING: it broadcasts DISCOVER, asking for hint when it is valid,
// until an OFFER arrives, and returns the first one. start is when acquire began.
func (c *dhcpClient) discover(done <-chan struct{}, xid dhcpv4.TransactionID, start time.Time, hint netip.Addr) (*dhcpReply, error) {
	disc := c.message(xid, dhcpv4.MessageTypeDiscover, true)
	if hint.IsValid() {
		disc.UpdateOption(dhcpv4.OptRequestedIPAddress(hint.AsSlice()))
	}
	c.log.Debug("dhcp: sending DISCOVER", "xid", xid)
	offer, err := c.exchange(done, disc, start, netip.IPv4Unspecified(), discoverSchedule, isOffer)
	if err != nil {
		return nil, err
	}
	c.log.Debug("dhcp: OFFER", "address", offer.lease.Address, "server", offer.server)
	return offer, nil
}

// request is REQUESTING: it broadcasts REQUEST for offer's address until the server that made
// the offer answers, and returns its ACK or NAK, or nil when it gave up.
func (c *dhcpClient) request(done <-chan struct{}, xid dhcpv4.TransactionID, start time.Time, offer *dhcpReply) (*dhcpReply, error) {
	req := c.message(xid, dhcpv4.MessageTypeRequest, true)
	req.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.lease.Address.Addr().AsSlice()))
	req.UpdateOption(dhcpv4.OptServerIdentifier(offer.server.AsSlice()))
	return c.exchange(done, req, start, netip.IPv4Unspecified(), requestSchedule,
		func(r *dhcpReply) bool { return isAckOrNak(r) && r.server == offer.server })
}

// keep runs BOUND, RENEWING and REBINDING for the bound lease until it ends, and says how:
// errDHCPStopped, errDHCPNAK or errDHCPExpired.
func (c *dhcpClient) keep(done <-chan struct{}) error {
	for {
		l := c.applied.lease
		if l.Infinite {
			c.sleep(done, -1) // returns only when done is closed
			return errDHCPStopped
		}
		t1, t2, exp := l.Acquired.Add(l.T1), l.Acquired.Add(l.T2), l.Expires()
		if !c.sleep(done, max(t1.Sub(c.clock.Now()), 0)) {
			return errDHCPStopped
		}
		reply, err := c.renew(done, &l, t2, exp)
		switch {
		case err != nil:
			return errDHCPStopped
		case reply == nil:
			c.log.Warn("dhcp: lease expired", "address", l.Address)
			return errDHCPExpired
		case reply.typ == dhcpv4.MessageTypeNak:
			c.log.Warn("dhcp: NAK to renewal, restarting discovery", "address", l.Address, "server", reply.server, "message", reply.msg)
			return errDHCPNAK
		}
		c.bind(reply)
	}
}

// renew is RENEWING until t2, asking the server that granted l by unicast, then REBINDING
// until exp, asking any server by broadcast. It returns the ACK or NAK that ended them, or nil
// when l expired unanswered.
func (c *dhcpClient) renew(done <-chan struct{}, l *Lease, t2, exp time.Time) (*dhcpReply, error) {
	c.log.Debug("dhcp: renewing", "address", l.Address, "server", l.Server)
	start := c.clock.Now()
	reply, err := c.exchange(done, c.renewal(), start, l.Server, untilSchedule(t2), isAckOrNak)
	if err != nil || reply != nil {
		return reply, err
	}
	c.log.Info("dhcp: no answer from server, rebinding", "address", l.Address, "server", l.Server)
	return c.exchange(done, c.renewal(), start, netip.IPv4Unspecified(), untilSchedule(exp), isAckOrNak)
}

// renewal returns a REQUEST for RENEWING or REBINDING: ciaddr set, no server identifier or
// requested address (RFC 2131 section 4.3.2).
func (c *dhcpClient) renewal() *dhcpv4.DHCPv4 {
	m := c.message(dhcpXID(), dhcpv4.MessageTypeRequest, false)
	m.ClientIPAddr = c.applied.lease.Address.Addr().AsSlice()
	return m
}

// isOffer accepts the replies SELECTING waits for.
func isOffer(r *dhcpReply) bool { return r.typ == dhcpv4.MessageTypeOffer }

// isAckOrNak accepts the replies that end a REQUEST.
func isAckOrNak(r *dhcpReply) bool {
	return r.typ == dhcpv4.MessageTypeAck || r.typ == dhcpv4.MessageTypeNak
}
