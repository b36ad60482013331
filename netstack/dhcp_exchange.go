package netstack

// How the DHCP client talks to servers: it builds a message, sends it, and retransmits it on a
// schedule until a reply it accepts arrives (RFC 2131 sections 4.1 and 4.4.5). Every wait runs
// on the client's clock.

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime/trace"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Timing of the client, from RFC 2131 sections 4.1 and 4.4.5.
const (
	// dhcpFirstTimeout is the wait after the first DISCOVER or REQUEST; it doubles with each
	// retransmission up to dhcpMaxTimeout.
	dhcpFirstTimeout = 4 * time.Second
	dhcpMaxTimeout   = 64 * time.Second
	// dhcpRequestTries is how many times REQUESTING sends its REQUEST before going back to
	// INIT: 4+8+16+32 s, about the minute RFC 2131 suggests.
	dhcpRequestTries = 4
	// dhcpMinRetransmit is the shortest wait between REQUESTs while RENEWING or REBINDING.
	dhcpMinRetransmit = 60 * time.Second
)

// dhcpRequestedOptions are the options the client asks servers for (option 55).
var dhcpRequestedOptions = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionInterfaceMTU,
	dhcpv4.OptionIPAddressLeaseTime,
	dhcpv4.OptionServerIdentifier,
	dhcpv4.OptionRenewTimeValue,
	dhcpv4.OptionRebindingTimeValue,
	dhcpv4.OptionClasslessStaticRoute,
}

// message builds a client message of type typ with the options every message carries.
func (c *dhcpClient) message(xid dhcpv4.TransactionID, typ dhcpv4.MessageType, broadcast bool) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		ClientHWAddr:  c.mac,
		TransactionID: xid,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       make(dhcpv4.Options),
	}
	if broadcast {
		m.SetBroadcast()
	}
	m.UpdateOption(dhcpv4.OptMessageType(typ))
	m.UpdateOption(dhcpv4.OptClientIdentifier(append([]byte{byte(iana.HWTypeEthernet)}, c.mac...)))
	m.UpdateOption(dhcpv4.OptParameterRequestList(dhcpRequestedOptions...))
	m.UpdateOption(dhcpv4.OptMaxMessageSize(uint16(min(max(c.n.link.MTU(), dhcpv4.MaxMessageSize), 0xffff))))
	return m
}

// exchange sends m to dst (the unspecified address means the limited broadcast address) and
// retransmits it on sched until a reply with m's transaction ID that accept takes arrives. It
// returns that reply, nil when sched gives up, or errDHCPStopped when done is closed. start is
// when the client began this acquisition or renewal, for the secs field.
func (c *dhcpClient) exchange(done <-chan struct{}, m *dhcpv4.DHCPv4, start time.Time, dst netip.Addr, sched dhcpSchedule, accept func(*dhcpReply) bool) (*dhcpReply, error) {
	to := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpServerPort}
	if !dst.IsUnspecified() {
		to.IP = dst.AsSlice()
	}
	answers := func(r *dhcpReply) bool { return r.xid == m.TransactionID && accept(r) }
	if trace.IsEnabled() {
		ctx, task := trace.NewTask(context.Background(), traceDHCPExchange)
		defer task.End()
		trace.Log(ctx, "dhcp.message", m.MessageType().String())
	}
	for i := 0; ; i++ {
		now := c.clock.Now()
		wait := sched(i, now)
		if wait <= 0 {
			return nil, nil
		}
		m.NumSeconds = uint16(min(max(now.Sub(start)/time.Second, 0), 0xffff))
		if _, err := c.conn.WriteTo(m.ToBytes(), to); err != nil {
			// Lost like a dropped packet; the schedule retransmits.
			c.log.Debug("dhcp: send failed", "type", m.MessageType(), "to", to, "err", err)
		}
		if r, err := c.await(done, wait, answers); r != nil || err != nil {
			return r, err
		}
	}
}

// sleep waits for d (forever when d < 0), discarding stray replies, and reports false when
// done was closed first.
func (c *dhcpClient) sleep(done <-chan struct{}, d time.Duration) bool {
	_, err := c.await(done, d, nil)
	return err == nil
}

// await waits up to d (forever when d < 0) for a reply that accept takes, discarding every
// other and all of them when accept is nil. It returns the reply, nil when d has passed, or
// errDHCPStopped when done is closed.
func (c *dhcpClient) await(done <-chan struct{}, d time.Duration, accept func(*dhcpReply) bool) (*dhcpReply, error) {
	var expired <-chan time.Time
	if d >= 0 {
		t := c.clock.NewTimer(d)
		defer t.Stop()
		expired = t.C()
	}
	for {
		select {
		case <-done:
			return nil, errDHCPStopped
		case r := <-c.rx:
			if accept != nil && accept(r) {
				return r, nil
			}
		case <-expired:
			return nil, nil
		}
	}
}

// dhcpSchedule returns how long to wait for a reply after sending attempt number i (from 0) at
// now, or 0 to give up without sending it.
type dhcpSchedule func(i int, now time.Time) time.Duration

// discoverSchedule never gives up: 4, 8, 16, 32, 64, 64... seconds, ±1 s.
func discoverSchedule(i int, _ time.Time) time.Duration { return jitter(backoff(i)) }

// requestSchedule gives up after dhcpRequestTries attempts.
func requestSchedule(i int, _ time.Time) time.Duration {
	if i >= dhcpRequestTries {
		return 0
	}
	return jitter(backoff(i))
}

// untilSchedule waits half the time left before deadline, but at least dhcpMinRetransmit, and
// gives up at the deadline (RFC 2131 section 4.4.5).
func untilSchedule(deadline time.Time) dhcpSchedule {
	return func(_ int, now time.Time) time.Duration {
		left := deadline.Sub(now)
		if left <= 0 {
			return 0
		}
		return min(max(left/2, dhcpMinRetransmit), left)
	}
}

// backoff returns the i-th retransmission timeout without randomisation.
func backoff(i int) time.Duration {
	if i >= 4 {
		return dhcpMaxTimeout
	}
	return dhcpFirstTimeout << i
}

// jitter randomises d by ±1 s (RFC 2131 section 4.1).
func jitter(d time.Duration) time.Duration {
	return d - time.Second + rand.N(2*time.Second)
}

// dhcpXID returns a random transaction ID.
func dhcpXID() dhcpv4.TransactionID {
	var xid dhcpv4.TransactionID
	binary.BigEndian.PutUint32(xid[:], rand.Uint32())
	return xid
}
