package netstack

// The DHCPv4 client (RFC 2131, options from RFC 2132 and RFC 3442), one per NIC that has no
// static address. Messages are encoded and decoded with github.com/insomniacslk/dhcp/dhcpv4;
// the state machine, timers and the validation of replies are ours, so that renewal, rebinding
// and expiry run on an injectable clock and can be tested without waiting for real leases.
//
// One file per concern:
//
//   - dhcp.go: the lease as a NIC reports it, the client's state, its clock and its start;
//   - dhcp_states.go: the lifecycle, INIT through REBINDING;
//   - dhcp_exchange.go: building messages, retransmitting them and waiting for the reply;
//   - dhcp_bind.go: applying a bound lease to the NIC and removing it again;
//   - dhcp_socket.go: the UDP socket on port 68 and the placeholder address it sends from;
//   - dhcp_sniffer.go: the packet endpoint that reads replies unicast to an address the NIC
//     does not have yet, and the validation of their IPv4 and UDP headers;
//   - dhcp_lease.go: decoding and validating the servers' replies, which are untrusted.
//
// Not implemented: the ARP probe for a conflicting address before binding (gVisor's IPv4 DAD is
// off in the stack), DHCPINFORM, DHCPRELEASE on Close (a restarted unikernel asks for and
// usually gets the same address), and INIT-REBOOT after a link flap.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Lease is a DHCPv4 lease as a NIC's client holds it; see [NIC.Lease].
type Lease struct {
	// Address is the leased address with the subnet's prefix length (option 1).
	Address netip.Prefix
	// Gateway is the first router of option 3, or the invalid Addr when there is none.
	Gateway netip.Addr
	// DNS are the DNS servers of option 6, in the server's order.
	DNS []netip.Addr
	// MTU is option 26 as applied to the NIC, or 0 when the lease has none or it was unusable.
	MTU int
	// Server is the DHCP server that granted or last renewed the lease (option 54).
	Server netip.Addr
	// Acquired is when the lease was granted or last renewed, by the client's clock.
	Acquired time.Time
	// Duration is the lease time (option 51); meaningless when Infinite.
	Duration time.Duration
	// Infinite is true for a lease that never expires (lease time 0xffffffff).
	Infinite bool
	// T1 and T2 are the renewal and rebinding times, from Acquired (options 58 and 59, or
	// half and seven eighths of Duration).
	T1, T2 time.Duration
}

// Expires returns when the lease expires, or the zero Time for an infinite lease.
func (l *Lease) Expires() time.Time {
	if l.Infinite {
		return time.Time{}
	}
	return l.Acquired.Add(l.Duration)
}

// Lease returns the NIC's current DHCPv4 lease, and false when the NIC has none: it has static
// addresses, DHCP is disabled, or the client is still acquiring one. A new lease is reported
// just before its address is assigned, so a caller that saw it here and needs the address in
// place waits with WaitConfigured.
func (n *NIC) Lease() (Lease, bool) {
	c := n.dhcp
	if c == nil {
		return Lease{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease == nil {
		return Lease{}, false
	}
	l := *c.lease
	l.DNS = slices.Clone(l.DNS)
	return l, true
}

// dhcpClock is the client's time source; tests replace the real one to run through a lease's
// lifetime without waiting for it.
type dhcpClock interface {
	Now() time.Time
	NewTimer(d time.Duration) dhcpTimer
}

// dhcpTimer is a timer of a dhcpClock.
type dhcpTimer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                     { return time.Now() }
func (realClock) NewTimer(d time.Duration) dhcpTimer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// errDHCPStopped ends an exchange when the stack closes.
var errDHCPStopped = errors.New("netstack: DHCP client stopped")

// dhcpClient is the NIC's DHCPv4 client state.
type dhcpClient struct {
	n     *NIC
	log   *slog.Logger
	clock dhcpClock
	mac   net.HardwareAddr
	conn  *UDPConn
	// sniffer reads replies unicast to an address the NIC does not have yet; nil while the
	// client has a lease or when the stack offers no packet endpoints. Used only by the
	// client's goroutine.
	sniffer *dhcpSniffer
	rx      chan *dhcpReply
	// readerDone is closed when the reading goroutines have ended.
	readerDone chan struct{}

	// Fields used only by the client's goroutine: what the bound lease applied to the NIC.
	applied      *dhcpReply
	unconfigured bool // 0.0.0.0/0 is assigned

	mu sync.Mutex
	// lease is the bound lease, nil while there is none.
	lease *Lease
}

// startDHCP starts the NIC's DHCPv4 client on the real clock. It is the hook AddNIC calls for
// a NIC without static addresses; the client's goroutines end when the stack closes.
func (n *NIC) startDHCP() {
	if err := n.startDHCPClock(realClock{}); err != nil {
		n.s.log.Error("netstack: DHCPv4 client not started; NIC has no IPv4 address", "nic", n.name, "err", err)
	}
}

// startDHCPClock starts the NIC's DHCPv4 client with the given clock.
func (n *NIC) startDHCPClock(clock dhcpClock) error {
	mac := n.link.MAC()
	if len(mac) != 6 {
		return fmt.Errorf("netstack: DHCPv4 needs a 6-byte Ethernet address, link has %d bytes", len(mac))
	}
	c := &dhcpClient{
		n:          n,
		log:        n.s.log.With("nic", n.name),
		clock:      clock,
		mac:        slices.Clone(mac),
		rx:         make(chan *dhcpReply, 16),
		readerDone: make(chan struct{}),
	}
	conn, err := c.open()
	if err != nil {
		return err
	}
	c.conn = conn
	n.dhcp = c
	n.s.wg.Add(2)
	go func() {
		defer n.s.wg.Done()
		defer close(c.readerDone)
		c.read()
	}()
	go func() {
		defer n.s.wg.Done()
		c.run(n.s.closed)
		c.stopSniffer()
		c.conn.Close()
		<-c.readerDone
	}()
	return nil
}
