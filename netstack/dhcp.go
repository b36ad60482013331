package netstack

// The DHCPv4 client (RFC 2131, options from RFC 2132 and RFC 3442), one per NIC that has no
// static address. Messages are encoded and decoded with github.com/insomniacslk/dhcp/dhcpv4;
// the state machine, timers and the validation of replies are ours, so that renewal, rebinding
// and expiry run on an injectable clock and can be tested without waiting for real leases.
//
// # Sending before the NIC has an address
//
// gVisor picks a packet's source address from the NIC's addresses and refuses to route a
// packet from a NIC that has none, so a plain UDP socket cannot send a DHCPDISCOVER. While it
// has no lease the client therefore assigns the unspecified address 0.0.0.0/0 to the NIC, as
// google/netstack's own DHCP client did: its socket, bound to the NIC and port 68 with
// SO_BROADCAST, then sends from 0.0.0.0:68 to 255.255.255.255:67, as RFC 2131 section 4.1
// requires. The /0 prefix makes 255.255.255.255 that address's broadcast address, which gVisor
// delivers locally anyway. The other options were worse: a raw socket would mean building IP
// and UDP headers ourselves, and spoofing would make the NIC answer ARP for every address. The
// placeholder is not added through NIC.AddAddress, so WaitConfigured does not see it, and it is
// removed as soon as a lease is bound.
//
// # Receiving before the NIC has an address
//
// The client sets the BROADCAST flag in DISCOVER and REQUEST so that servers broadcast their
// replies, which the UDP socket receives. Some servers (passt among them) ignore the flag and
// unicast OFFER and ACK to the offered address, which the stack drops because the NIC does not
// have it yet. Promiscuous mode does not help: with HandleLocal, gVisor then takes every
// packet's source for a local address and drops the packet as a martian. For those servers the
// client also reads the NIC's IPv4 packets through a gVisor packet endpoint (as Linux DHCP
// clients use an AF_PACKET socket) and takes replies to port 68 from there, validating the IPv4
// and UDP headers itself. Such an endpoint exists only when the stack has a RawFactory and the
// NIC was created with DeliverLinkPackets; otherwise the client relies on the UDP socket alone.
//
// # Lifecycle
//
// INIT sends DISCOVER and retransmits it after 4, 8, 16, 32 and then every 64 seconds, each
// ±1 s at random (RFC 2131 section 4.1), until an OFFER arrives; REQUESTING sends REQUEST with
// the same backoff and returns to INIT after four unanswered retransmissions or a NAK. BOUND
// applies the lease: address and subnet route, default route (option 3) or classless routes
// (option 121, which takes precedence per RFC 3442), DNS servers (option 6) for the stack's
// resolver, and MTU (option 26). At T1 RENEWING unicasts REQUEST to the server that granted the
// lease, at T2 REBINDING broadcasts it, each retransmitting after half the remaining time down
// to 60 s (section 4.4.5). A NAK in either state, or expiry, removes everything the lease
// applied and restarts at INIT. An infinite lease (0xffffffff, as passt gives) is never
// renewed.
//
// Not implemented: the ARP probe for a conflicting address before binding (gVisor's IPv4 DAD is
// off in the stack), DHCPINFORM, DHCPRELEASE on Close (a restarted unikernel asks for and
// usually gets the same address), and INIT-REBOOT after a link flap.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// DHCP ports (RFC 2131 section 4.1).
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
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

// errDHCPStopped ends an exchange when the stack closes.
var errDHCPStopped = errors.New("netstack: DHCP client stopped")

// dhcpClient is the NIC's DHCPv4 client state.
type dhcpClient struct {
	n     *NIC
	log   *slog.Logger
	clock dhcpClock
	mac   net.HardwareAddr
	conn  *gonet.UDPConn
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

// dhcpSniffer is a packet endpoint on the NIC and the goroutine reading it. It exists only
// while the client acquires a lease: while any packet endpoint is open gVisor copies every
// received packet for it.
type dhcpSniffer struct {
	ep   tcpip.Endpoint
	wq   waiter.Queue
	stop chan struct{}
	done chan struct{}
}

// startSniffer opens a packet endpoint for IPv4 on the NIC, if the stack can make one, and
// starts reading it.
func (c *dhcpClient) startSniffer() {
	if c.sniffer != nil {
		return
	}
	sn := &dhcpSniffer{stop: make(chan struct{}), done: make(chan struct{})}
	ep, err := c.n.s.s.NewPacketEndpoint(true /* cooked: from the IP header on */, header.IPv4ProtocolNumber, &sn.wq)
	if err != nil {
		c.log.Debug("dhcp: no packet endpoint; replies unicast to the offered address will be missed", "err", err)
		return
	}
	if err := ep.Bind(tcpip.FullAddress{NIC: c.n.id}); err != nil {
		c.log.Debug("dhcp: binding packet endpoint", "err", err)
		ep.Close()
		return
	}
	sn.ep = ep
	c.sniffer = sn
	go func() {
		defer close(sn.done)
		c.sniff(sn)
	}()
}

// stopSniffer closes the packet endpoint and waits for its reader.
func (c *dhcpClient) stopSniffer() {
	sn := c.sniffer
	if sn == nil {
		return
	}
	c.sniffer = nil
	close(sn.stop)
	sn.ep.Close()
	<-sn.done
}

// sniff reads IPv4 packets from the packet endpoint and passes DHCP replies unicast to port 68
// to the state machine, until the sniffer is stopped.
func (c *dhcpClient) sniff(sn *dhcpSniffer) {
	we, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	sn.wq.EventRegister(&we)
	defer sn.wq.EventUnregister(&we)
	var buf bytes.Buffer
	for {
		buf.Reset()
		_, err := sn.ep.Read(&buf, tcpip.ReadOptions{})
		if _, ok := err.(*tcpip.ErrWouldBlock); ok {
			select {
			case <-ch:
				continue
			case <-sn.stop:
				return
			}
		}
		if err != nil {
			return
		}
		payload, src, ok := dhcpFromIPv4(buf.Bytes())
		if !ok {
			continue
		}
		c.deliver(payload, src)
	}
}

// dhcpFromIPv4 returns the UDP payload of b, an IPv4 packet from the network, when it is a
// datagram from port 67 to port 68 unicast (not broadcast: the UDP socket receives those) with
// valid headers and checksum, together with its source address.
func dhcpFromIPv4(b []byte) ([]byte, netip.Addr, bool) {
	if len(b) < header.IPv4MinimumSize {
		return nil, netip.Addr{}, false
	}
	ip := header.IPv4(b)
	hl := int(ip.HeaderLength())
	tl := int(ip.TotalLength())
	if ip.Protocol() != uint8(header.UDPProtocolNumber) || !ip.IsValid(len(b)) || tl < hl+header.UDPMinimumSize ||
		ip.More() || ip.FragmentOffset() != 0 || !ip.IsChecksumValid() {
		return nil, netip.Addr{}, false
	}
	dst := ip.DestinationAddress()
	if dst == header.IPv4Broadcast {
		return nil, netip.Addr{}, false
	}
	u := header.UDP(b[hl:tl])
	if u.SourcePort() != dhcpServerPort || u.DestinationPort() != dhcpClientPort ||
		int(u.Length()) < header.UDPMinimumSize || int(u.Length()) > len(u) {
		return nil, netip.Addr{}, false
	}
	u = u[:u.Length()]
	payload := u.Payload()
	src := ip.SourceAddress()
	if u.Checksum() != 0 && !u.IsChecksumValid(src, dst, checksum.Checksum(payload, 0)) {
		return nil, netip.Addr{}, false
	}
	return payload, netip.AddrFrom4(src.As4()), true
}

// open creates the client's UDP socket: port 68 on the NIC, allowed to broadcast.
func (c *dhcpClient) open() (*gonet.UDPConn, error) {
	var wq waiter.Queue
	ep, terr := c.n.s.s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, fmt.Errorf("netstack: DHCPv4 socket: %s", terr)
	}
	ep.SocketOptions().SetBroadcast(true)
	if terr := ep.SocketOptions().SetBindToDevice(int32(c.n.id)); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("netstack: DHCPv4 socket: binding to %s: %s", c.n.name, terr)
	}
	if terr := ep.Bind(tcpip.FullAddress{NIC: c.n.id, Port: dhcpClientPort}); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("netstack: DHCPv4 socket: binding port %d on %s: %s", dhcpClientPort, c.n.name, terr)
	}
	return gonet.NewUDPConn(&wq, ep), nil
}

// read parses what arrives on port 68 and passes valid replies meant for this client to the
// state machine, dropping them when it is behind. It returns when the socket is closed.
func (c *dhcpClient) read() {
	buf := make([]byte, max(c.n.link.MTU(), dhcpv4.MaxMessageSize))
	for {
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var src netip.Addr
		if ua, ok := from.(*net.UDPAddr); ok {
			src, _ = netip.AddrFromSlice(ua.IP)
			src = src.Unmap()
		}
		c.deliver(buf[:n], src)
	}
}

// deliver parses a DHCP message from src and queues it for the state machine if it is a
// valid reply to this client, dropping it when the state machine is behind.
func (c *dhcpClient) deliver(b []byte, src netip.Addr) {
	r, err := parseDHCPReply(b, c.mac, src)
	if err != nil {
		c.log.Debug("dhcp: ignoring packet", "from", src, "err", err)
		return
	}
	select {
	case c.rx <- r:
	default:
		c.log.Debug("dhcp: reply queue full, dropping", "type", r.typ)
	}
}

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

// Outcomes of keep besides errDHCPStopped.
var (
	errDHCPExpired = errors.New("lease expired")
	errDHCPNAK     = errors.New("server refused the lease")
)

// acquire runs INIT, SELECTING and REQUESTING until a server ACKs a lease, and returns the ACK,
// or nil when done is closed. hint is an address to ask for again, or invalid.
func (c *dhcpClient) acquire(done <-chan struct{}, hint netip.Addr) *dhcpReply {
	naks := 0
	for {
		if naks > 1 {
			// Consecutive NAKs: back off so a confused server is not flooded.
			if !c.sleep(done, jitter(backoff(naks-2))) {
				return nil
			}
		}
		xid := dhcpXID()
		start := c.clock.Now()
		disc := c.message(xid, dhcpv4.MessageTypeDiscover, true)
		if hint.IsValid() {
			disc.UpdateOption(dhcpv4.OptRequestedIPAddress(hint.AsSlice()))
		}
		c.log.Debug("dhcp: sending DISCOVER", "xid", xid)
		offer, err := c.exchange(done, disc, start, netip.IPv4Unspecified(), discoverSchedule,
			func(r *dhcpReply) bool { return r.typ == dhcpv4.MessageTypeOffer })
		if err != nil {
			return nil
		}
		c.log.Debug("dhcp: OFFER", "address", offer.lease.Address, "server", offer.server)

		req := c.message(xid, dhcpv4.MessageTypeRequest, true)
		req.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.lease.Address.Addr().AsSlice()))
		req.UpdateOption(dhcpv4.OptServerIdentifier(offer.server.AsSlice()))
		reply, err := c.exchange(done, req, start, netip.IPv4Unspecified(), requestSchedule,
			func(r *dhcpReply) bool {
				return (r.typ == dhcpv4.MessageTypeAck || r.typ == dhcpv4.MessageTypeNak) && r.server == offer.server
			})
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

// keep runs BOUND, RENEWING and REBINDING for the bound lease until it ends, and says how:
// errDHCPStopped, errDHCPNAK or errDHCPExpired.
func (c *dhcpClient) keep(done <-chan struct{}) error {
	for {
		l := c.applied.lease
		if l.Infinite {
			if !c.sleep(done, -1) {
				return errDHCPStopped
			}
			continue
		}
		t1, t2, exp := l.Acquired.Add(l.T1), l.Acquired.Add(l.T2), l.Expires()
		if !c.sleep(done, max(t1.Sub(c.clock.Now()), 0)) {
			return errDHCPStopped
		}

		// RENEWING: ask the server that granted the lease, by unicast.
		c.log.Debug("dhcp: renewing", "address", l.Address, "server", l.Server)
		start := c.clock.Now()
		req := c.renewal()
		reply, err := c.exchange(done, req, start, l.Server, untilSchedule(t2),
			func(r *dhcpReply) bool {
				return r.typ == dhcpv4.MessageTypeAck || r.typ == dhcpv4.MessageTypeNak
			})
		if err != nil {
			return errDHCPStopped
		}
		if reply == nil {
			// REBINDING: ask any server, by broadcast.
			c.log.Info("dhcp: no answer from server, rebinding", "address", l.Address, "server", l.Server)
			req = c.renewal()
			reply, err = c.exchange(done, req, start, netip.IPv4Unspecified(), untilSchedule(exp),
				func(r *dhcpReply) bool {
					return r.typ == dhcpv4.MessageTypeAck || r.typ == dhcpv4.MessageTypeNak
				})
			if err != nil {
				return errDHCPStopped
			}
		}
		switch {
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

// renewal returns a REQUEST for RENEWING or REBINDING: ciaddr set, no server identifier or
// requested address (RFC 2131 section 4.3.2).
func (c *dhcpClient) renewal() *dhcpv4.DHCPv4 {
	m := c.message(dhcpXID(), dhcpv4.MessageTypeRequest, false)
	m.ClientIPAddr = c.applied.lease.Address.Addr().AsSlice()
	return m
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

func dhcpXID() dhcpv4.TransactionID {
	var xid dhcpv4.TransactionID
	binary.BigEndian.PutUint32(xid[:], rand.Uint32())
	return xid
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
		t := c.clock.NewTimer(wait)
	wait:
		for {
			select {
			case <-done:
				t.Stop()
				return nil, errDHCPStopped
			case r := <-c.rx:
				if r.xid != m.TransactionID || !accept(r) {
					continue
				}
				t.Stop()
				return r, nil
			case <-t.C():
				break wait
			}
		}
	}
}

// sleep waits for d (forever when d < 0), discarding stray replies, and reports false when
// done was closed first.
func (c *dhcpClient) sleep(done <-chan struct{}, d time.Duration) bool {
	var tc <-chan time.Time
	if d >= 0 {
		t := c.clock.NewTimer(d)
		defer t.Stop()
		tc = t.C()
	}
	for {
		select {
		case <-done:
			return false
		case <-c.rx:
		case <-tc:
			return true
		}
	}
}

// setUnconfigured assigns (on) or removes (off) the placeholder address 0.0.0.0/0 that lets
// the client send before it has a lease, and opens or closes the packet endpoint that lets it
// receive replies unicast to the offered address (see the file comment).
func (c *dhcpClient) setUnconfigured(on bool) {
	if on == c.unconfigured {
		return
	}
	s := c.n.s.s
	if on {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: header.IPv4Any}}
		if err := s.AddProtocolAddress(c.n.id, pa, stack.AddressProperties{}); err != nil {
			c.log.Error("dhcp: cannot assign 0.0.0.0 to send DISCOVER", "err", err)
			return
		}
		c.startSniffer()
	} else {
		c.stopSniffer()
		if err := s.RemoveAddress(c.n.id, header.IPv4Any); err != nil {
			c.log.Error("dhcp: cannot remove 0.0.0.0", "err", err)
		}
	}
	c.unconfigured = on
}

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
	old := c.applied
	var oldAddr netip.Prefix
	var oldRoutes []dhcpRoute
	oldMTU := 0
	if old != nil {
		oldAddr, oldRoutes, oldMTU = old.lease.Address, old.routes, old.lease.MTU
	}
	if oldAddr.IsValid() && oldAddr != l.Address {
		c.removeRoutes(oldRoutes)
		oldRoutes = nil
		if err := c.n.RemoveAddress(oldAddr); err != nil {
			c.log.Error("dhcp: removing old address", "err", err)
		}
	}

	if l.MTU != oldMTU {
		mtu := l.MTU
		if mtu == 0 {
			mtu = c.n.link.MTU()
		}
		if err := c.n.SetMTU(mtu); err != nil {
			c.log.Warn("dhcp: not applying MTU", "mtu", l.MTU, "err", err)
			l.MTU = 0
		}
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
	if oldAddr == l.Address {
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

func (c *dhcpClient) removeRoutes(routes []dhcpRoute) {
	for _, r := range routes {
		c.n.RemoveRoute(r.dst, r.gw)
	}
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
	r := &dhcpReply{typ: m.MessageType(), xid: m.TransactionID}
	r.server = src
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

	l := &r.lease
	l.Server = r.server
	yiaddr, ok := netip.AddrFromSlice(m.YourIPAddr)
	if !ok || !isUnicast4(yiaddr.Unmap()) {
		return nil, fmt.Errorf("%w: leased address %v", errDHCPInvalid, m.YourIPAddr)
	}
	yiaddr = yiaddr.Unmap()
	bits, err := prefixLen(m.Options.Get(dhcpv4.OptionSubnetMask), yiaddr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDHCPInvalid, err)
	}
	l.Address = netip.PrefixFrom(yiaddr, bits)

	lt := m.Options.Get(dhcpv4.OptionIPAddressLeaseTime)
	if len(lt) != 4 {
		return nil, fmt.Errorf("%w: no lease time", errDHCPInvalid)
	}
	if secs := binary.BigEndian.Uint32(lt); secs == dhcpInfinite {
		l.Infinite = true
	} else {
		l.Duration = max(time.Duration(secs)*time.Second, dhcpMinLease)
		l.T1, l.T2 = l.Duration/2, l.Duration*7/8
		t1, ok1 := seconds(m.Options.Get(dhcpv4.OptionRenewTimeValue))
		t2, ok2 := seconds(m.Options.Get(dhcpv4.OptionRebindingTimeValue))
		if ok2 && t2 > 0 && t2 < l.Duration {
			l.T2 = t2
		}
		if ok1 && t1 > 0 && t1 <= l.T2 {
			l.T1 = t1
		}
		l.T1 = min(l.T1, l.T2)
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
	r.routes = leaseRoutes(l, parseClasslessRoutes(m.Options.Get(dhcpv4.OptionClasslessStaticRoute)))
	return r, nil
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
	if len(classless) > 0 {
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
	if l.Gateway.IsValid() {
		add(dhcpRoute{dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), gw: l.Gateway})
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
		p := netip.PrefixFrom(netip.AddrFrom4(dst), bits).Masked()
		r := dhcpRoute{dst: p}
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
