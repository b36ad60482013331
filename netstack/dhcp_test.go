package netstack_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// filterLink wraps a Link and drops the transmitted frames its filter selects, so a test can
// make a server unreachable by unicast while broadcasts still get through.
type filterLink struct {
	link.Link
	drop    atomic.Pointer[func(frame []byte) bool]
	dropped atomic.Int64
}

func (l *filterLink) Transmit(frames []link.Frame) (int, error) {
	drop := l.drop.Load()
	if drop == nil {
		return l.Link.Transmit(frames)
	}
	keep := make([]link.Frame, 0, len(frames))
	for _, f := range frames {
		var b []byte
		for _, s := range f.Segments {
			b = append(b, s...)
		}
		if (*drop)(b) {
			l.dropped.Add(1)
			continue
		}
		keep = append(keep, f)
	}
	if _, err := l.Link.Transmit(keep); err != nil {
		return 0, err
	}
	return len(frames), nil
}

// unicastToPort67 selects IPv4 UDP frames to port 67 that are not broadcast.
func unicastToPort67(frame []byte) bool {
	if len(frame) < header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize ||
		header.Ethernet(frame).Type() != header.IPv4ProtocolNumber {
		return false
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	if ip.TransportProtocol() != header.UDPProtocolNumber || ip.DestinationAddress() == header.IPv4Broadcast {
		return false
	}
	return header.UDP(ip.Payload()).DestinationPort() == 67
}

// testDHCPServer is a DHCP server built on insomniacslk's server4, listening on port 67 of a
// second netstack.Stack. It leases one address at a time and records what it is asked.
type testDHCPServer struct {
	srv *server4.Server

	mu       sync.Mutex
	id       netip.Addr // server identifier
	offer    netip.Addr // the address it leases
	mask     net.IPMask
	lease    uint32 // seconds; 0xffffffff is infinite
	t1, t2   uint32 // seconds; zero leaves the option out
	router   netip.Addr
	dns      []netip.Addr
	mtu      uint16
	silent   bool // answer nothing
	nakNext  int  // NAK this many REQUESTs whatever they ask
	unicast  bool // send OFFER and ACK to the offered address, ignoring the BROADCAST flag (as passt does)
	requests []seenRequest
}

// seenRequest is a REQUEST the server received.
type seenRequest struct {
	ciaddr    netip.Addr
	requested netip.Addr
	broadcast bool // flag set in the message
}

func startDHCPServer(t *testing.T, s *netstack.Stack, nicID int, d *testDHCPServer) {
	t.Helper()
	conn := udpSocket(t, s, nicID, 67)
	srv, err := server4.NewServer("", nil, d.handle, server4.WithConn(conn))
	require.NoError(t, err)
	d.srv = srv
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve() }()
	t.Cleanup(func() { srv.Close(); <-done })
}

// udpSocket opens a UDP socket on port of s's NIC that may send broadcasts.
func udpSocket(t *testing.T, s *netstack.Stack, nicID, port int) *netstack.UDPConn {
	t.Helper()
	var wq waiter.Queue
	ep, terr := s.TCPIP().NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	require.Nil(t, terr)
	ep.SocketOptions().SetBroadcast(true)
	require.Nil(t, ep.SocketOptions().SetBindToDevice(int32(nicID)))
	require.Nil(t, ep.Bind(tcpip.FullAddress{NIC: tcpip.NICID(nicID), Port: uint16(port)}))
	return netstack.NewUDPConn(&wq, ep)
}

func (d *testDHCPServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var typ dhcpv4.MessageType
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		var sr seenRequest
		sr.ciaddr, _ = netip.AddrFromSlice(m.ClientIPAddr.To4())
		sr.requested, _ = netip.AddrFromSlice(m.RequestedIPAddress().To4())
		sr.broadcast = m.IsBroadcast()
		d.requests = append(d.requests, sr)
		want := sr.requested
		if !want.IsValid() {
			want = sr.ciaddr
		}
		if sid := m.ServerIdentifier(); sid != nil && !sid.Equal(d.id.AsSlice()) {
			return // the client chose another server
		}
		typ = dhcpv4.MessageTypeAck
		if want != d.offer || d.nakNext > 0 {
			typ = dhcpv4.MessageTypeNak
			d.nakNext = max(d.nakNext-1, 0)
		}
	default:
		return
	}
	if d.silent {
		return
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(d.id.AsSlice())),
	}
	if typ != dhcpv4.MessageTypeNak {
		lt := make([]byte, 4)
		binary.BigEndian.PutUint32(lt, d.lease)
		mods = append(mods,
			dhcpv4.WithYourIP(d.offer.AsSlice()),
			dhcpv4.WithNetmask(d.mask),
			dhcpv4.WithGeneric(dhcpv4.OptionIPAddressLeaseTime, lt))
		if d.router.IsValid() {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRouter(d.router.AsSlice())))
		}
		if len(d.dns) > 0 {
			var ips []net.IP
			for _, a := range d.dns {
				ips = append(ips, a.AsSlice())
			}
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(ips...)))
		}
		if d.mtu != 0 {
			mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, binary.BigEndian.AppendUint16(nil, d.mtu)))
		}
		if d.t1 != 0 {
			mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionRenewTimeValue, binary.BigEndian.AppendUint32(nil, d.t1)))
		}
		if d.t2 != 0 {
			mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionRebindingTimeValue, binary.BigEndian.AppendUint32(nil, d.t2)))
		}
	} else {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptMessage("address not available")))
	}
	reply, err := dhcpv4.NewReplyFromRequest(m, mods...)
	if err != nil {
		return
	}
	// server4 sends to the broadcast address when the client has none, else to ciaddr.
	if d.unicast && typ != dhcpv4.MessageTypeNak {
		peer = &net.UDPAddr{IP: d.offer.AsSlice(), Port: 68}
	}
	conn.WriteTo(reply.ToBytes(), peer)
}

func (d *testDHCPServer) set(f func(d *testDHCPServer)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func (d *testDHCPServer) seen() []seenRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.requests)
}

// dhcpEnv is a client stack and a server stack joined by a pipe, the client's NIC running its
// DHCP client on a TestClock.
type dhcpEnv struct {
	client, server *netstack.Stack
	nic            *netstack.NIC
	clk            *netstack.TestClock
	srv            *testDHCPServer
	link           *filterLink // the client's end
}

func newTestServer() *testDHCPServer {
	return &testDHCPServer{
		id:     netip.MustParseAddr("10.0.0.1"),
		offer:  netip.MustParseAddr("10.0.0.100"),
		mask:   net.CIDRMask(24, 32),
		lease:  3600,
		router: netip.MustParseAddr("10.0.0.1"),
		dns:    []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.53")},
		mtu:    1400,
	}
}

func newDHCPEnv(t *testing.T, srv *testDHCPServer, im pipe.Impairments) *dhcpEnv {
	t.Helper()
	la, lb, err := pipe.New(&pipe.Config{Impair: im})
	require.NoError(t, err)
	e := &dhcpEnv{clk: netstack.NewTestClock(), srv: srv, link: &filterLink{Link: la}}
	e.client, err = netstack.New(nil)
	require.NoError(t, err)
	e.server, err = netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { e.client.Close(); e.server.Close() })

	sn, err := e.server.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	require.NoError(t, err)
	startDHCPServer(t, e.server, sn.ID(), srv)
	if srv.unicast {
		// The server cannot ARP for an address the client does not have yet; passt need not,
		// it knows the client's MAC.
		require.Nil(t, e.server.TCPIP().AddStaticNeighbor(tcpip.NICID(sn.ID()), ipv4.ProtocolNumber, tcpip.AddrFrom4(srv.offer.As4()), tcpip.LinkAddress(la.MAC())))
	}

	e.nic, err = e.client.AddNIC(e.link, &netstack.NICConfig{NoDHCP: true})
	require.NoError(t, err)
	require.NoError(t, netstack.StartDHCPWithClock(e.nic, e.clk))
	return e
}

// bound waits until the client reports a lease of want and has assigned want to the NIC:
// the client publishes the lease before it assigns the address, which comes last.
func (e *dhcpEnv) bound(t *testing.T, want netip.Prefix) netstack.Lease {
	t.Helper()
	var l netstack.Lease
	require.Eventually(t, func() bool {
		var ok bool
		l, ok = e.nic.Lease()
		return ok && l.Address == want && e.hasAddress(want)
	}, 10*time.Second, time.Millisecond, "no lease for %s", want)
	return l
}

// idle waits until the client waits on its clock with exactly one timer, due at or before
// the limit, and returns the timer's deadline.
func (e *dhcpEnv) idle(t *testing.T) time.Time {
	t.Helper()
	var p []time.Time
	require.Eventually(t, func() bool {
		p = e.clk.Pending()
		return len(p) == 1
	}, 10*time.Second, time.Millisecond, "DHCP client does not wait on its clock")
	return p[0]
}

// advanceTo moves the clock to when (or not at all if it is past).
func (e *dhcpEnv) advanceTo(when time.Time) {
	if d := when.Sub(e.clk.Now()); d > 0 {
		e.clk.Advance(d)
	}
}

func (e *dhcpEnv) hasAddress(a netip.Prefix) bool { return slices.Contains(e.nic.Addresses(), a) }

// routes returns the client stack's IPv4 routes as "dst via gw".
func (e *dhcpEnv) routes() []string {
	var out []string
	for _, r := range e.client.TCPIP().GetRouteTable() {
		if r.Destination.ID().Len() != 4 {
			continue
		}
		s := r.Destination.String()
		if r.Gateway.Len() > 0 {
			s += " via " + r.Gateway.String()
		}
		out = append(out, s)
	}
	return out
}

var leased = netip.MustParsePrefix("10.0.0.100/24")

func TestDHCPInitialLease(t *testing.T) {
	e := newDHCPEnv(t, newTestServer(), pipe.Impairments{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.nic.WaitConfigured(ctx)
	require.NoError(t, err)
	require.Contains(t, e.nic.Addresses(), leased)

	l := e.bound(t, leased)
	require.Equal(t, netip.MustParseAddr("10.0.0.1"), l.Gateway)
	require.Equal(t, netip.MustParseAddr("10.0.0.1"), l.Server)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.53")}, l.DNS)
	require.Equal(t, 1400, l.MTU)
	require.False(t, l.Infinite)
	require.Equal(t, time.Hour, l.Duration)
	require.Equal(t, 30*time.Minute, l.T1)
	require.Equal(t, 3150*time.Second, l.T2)
	require.Equal(t, e.clk.Now(), l.Acquired)
	require.Equal(t, e.clk.Now().Add(time.Hour), l.Expires())

	// Applied to the NIC and the stack.
	require.Equal(t, 1400, e.nic.MTU())
	require.Equal(t, l.DNS, e.client.DNSServers())
	require.Contains(t, e.routes(), "0.0.0.0/0 via 10.0.0.1")
	require.Contains(t, e.routes(), "10.0.0.0/24")
	require.False(t, e.hasAddress(netip.MustParsePrefix("0.0.0.0/0")), "placeholder address left: %v", e.nic.Addresses())

	// The SELECTING-state REQUEST asked for the offered address by broadcast.
	reqs := e.srv.seen()
	require.Len(t, reqs, 1)
	require.Equal(t, seenRequest{requested: netip.MustParseAddr("10.0.0.100"), broadcast: true}, seenRequest{requested: reqs[0].requested, broadcast: reqs[0].broadcast})
	require.False(t, reqs[0].ciaddr.IsValid() && !reqs[0].ciaddr.IsUnspecified())

	// The address works: the server stack reaches the client over TCP.
	ln, err := e.client.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("leased"))
			c.Close()
		}
	}()
	c, err := e.server.Dial(ctx, "tcp", "10.0.0.100:80")
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 6)
	_, err = c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "leased", string(buf))
}

func TestDHCPServerIgnoringBroadcastFlag(t *testing.T) {
	srv := newTestServer()
	srv.unicast = true
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	if !netstack.DHCPReadsPackets(e.nic) {
		t.Skip("the stack has no packet endpoints (RawFactory, DeliverLinkPackets): replies unicast to the offered address cannot be received")
	}
	e.bound(t, leased)
}

func TestDHCPRenewalExtendsLease(t *testing.T) {
	e := newDHCPEnv(t, newTestServer(), pipe.Impairments{})
	first := e.bound(t, leased)
	require.Equal(t, first.Acquired.Add(first.T1), e.idle(t))

	e.advanceTo(first.Acquired.Add(first.T1))
	var l netstack.Lease
	require.Eventually(t, func() bool {
		l, _ = e.nic.Lease()
		return l.Acquired.After(first.Acquired)
	}, 10*time.Second, time.Millisecond)
	require.Equal(t, leased, l.Address)
	require.Equal(t, first.Expires().Add(first.T1), l.Expires())

	reqs := e.srv.seen()
	require.Len(t, reqs, 2)
	renew := reqs[1]
	require.Equal(t, netip.MustParseAddr("10.0.0.100"), renew.ciaddr, "RENEWING sets ciaddr")
	require.False(t, renew.requested.IsValid(), "RENEWING must not send option 50")
	require.False(t, renew.broadcast)
	require.Zero(t, e.link.dropped.Load())

	// Renewed, not rebound: the address stayed and the next timer is the new T1.
	require.Equal(t, l.Acquired.Add(l.T1), e.idle(t))
	require.True(t, e.hasAddress(leased))
}

func TestDHCPRebindingWhenServerIgnoresUnicast(t *testing.T) {
	srv := newTestServer()
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	first := e.bound(t, leased)
	e.idle(t)
	unicast := unicastToPort67
	e.link.drop.Store(&unicast)

	// RENEWING: unicast REQUESTs are lost until T2.
	t2 := first.Acquired.Add(first.T2)
	e.advanceTo(first.Acquired.Add(first.T1))
	for {
		next := e.idle(t)
		if !next.Before(t2) {
			break
		}
		e.advanceTo(next)
	}
	require.GreaterOrEqual(t, e.link.dropped.Load(), int64(2), "RENEWING retransmits its unicast REQUEST")
	require.Len(t, e.srv.seen(), 1, "no renewal reached the server")
	_, ok := e.nic.Lease()
	require.True(t, ok)

	// REBINDING: the broadcast REQUEST gets through and is answered.
	e.advanceTo(t2)
	var l netstack.Lease
	require.Eventually(t, func() bool {
		l, _ = e.nic.Lease()
		return l.Acquired.After(first.Acquired)
	}, 10*time.Second, time.Millisecond)
	require.Equal(t, t2, l.Acquired)
	reqs := e.srv.seen()
	require.Len(t, reqs, 2)
	require.Equal(t, netip.MustParseAddr("10.0.0.100"), reqs[1].ciaddr)
	require.False(t, reqs[1].requested.IsValid())
	require.True(t, e.hasAddress(leased))
}

func TestDHCPExpiryRemovesAddress(t *testing.T) {
	srv := newTestServer()
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	first := e.bound(t, leased)
	e.idle(t)
	srv.set(func(d *testDHCPServer) { d.silent = true })

	// Run the clock to expiry, one timer at a time: T1, the RENEWING and REBINDING
	// retransmissions, expiry.
	exp := first.Expires()
	for e.clk.Now().Before(exp) {
		e.advanceTo(e.idle(t))
	}
	require.Eventually(t, func() bool { _, ok := e.nic.Lease(); return !ok }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return !e.hasAddress(leased) }, 10*time.Second, time.Millisecond)
	require.Empty(t, e.client.DNSServers())
	require.Equal(t, 1500, e.nic.MTU())
	require.NotContains(t, e.routes(), "0.0.0.0/0 via 10.0.0.1")
	require.NotContains(t, e.routes(), "10.0.0.0/24")

	// Back in INIT: DISCOVER is retransmitted until the server answers again, and the client
	// gets a lease again.
	srv.set(func(d *testDHCPServer) { d.silent = false })
	e.advanceTo(e.idle(t))
	l := e.bound(t, leased)
	require.True(t, l.Acquired.After(exp) || l.Acquired.Equal(exp))
	require.Contains(t, e.routes(), "0.0.0.0/0 via 10.0.0.1")
}

func TestDHCPNAKRestartsDiscovery(t *testing.T) {
	srv := newTestServer()
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	first := e.bound(t, leased)
	e.idle(t)

	// The server renumbers: the renewal of 10.0.0.100 is refused, and the client discovers
	// again and takes 10.0.0.150.
	srv.set(func(d *testDHCPServer) { d.offer = netip.MustParseAddr("10.0.0.150") })
	e.advanceTo(first.Acquired.Add(first.T1))
	renumbered := netip.MustParsePrefix("10.0.0.150/24")
	e.bound(t, renumbered)
	require.True(t, e.hasAddress(renumbered))
	require.False(t, e.hasAddress(leased))
	reqs := e.srv.seen()
	require.Len(t, reqs, 3) // SELECTING, RENEWING (NAKed), SELECTING again
	require.Equal(t, netip.MustParseAddr("10.0.0.100"), reqs[1].ciaddr)
	require.Equal(t, netip.MustParseAddr("10.0.0.150"), reqs[2].requested)
}

func TestDHCPNAKToRequestRestartsDiscovery(t *testing.T) {
	// The server NAKs the first REQUEST (as one whose OFFER was taken by another client
	// would): the client goes back to INIT at once and gets the lease on its second round.
	srv := newTestServer()
	srv.nakNext = 1
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	e.bound(t, leased)
	reqs := e.srv.seen()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		require.Equal(t, netip.MustParseAddr("10.0.0.100"), r.requested)
		require.True(t, r.broadcast)
	}
}

func TestDHCPInfiniteLease(t *testing.T) {
	srv := newTestServer()
	srv.lease = 0xffffffff
	srv.mtu = 0
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	l := e.bound(t, leased)
	require.True(t, l.Infinite)
	require.True(t, l.Expires().IsZero())
	require.Equal(t, 1500, e.nic.MTU(), "no MTU option leaves the link's MTU")
	e.clk.Advance(10 * 365 * 24 * time.Hour)
	time.Sleep(50 * time.Millisecond)
	require.Len(t, e.srv.seen(), 1, "an infinite lease is never renewed")
	require.Empty(t, e.clk.Pending())
	require.True(t, e.hasAddress(leased))
}

func TestDHCPServerTimes(t *testing.T) {
	srv := newTestServer()
	srv.lease, srv.t1, srv.t2 = 1000, 100, 200
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	l := e.bound(t, leased)
	require.Equal(t, 100*time.Second, l.T1)
	require.Equal(t, 200*time.Second, l.T2)
	require.Equal(t, l.Acquired.Add(100*time.Second), e.idle(t))
}

func TestDHCPRetransmitsThroughLoss(t *testing.T) {
	// Half the frames are lost in each direction: the client gets its lease by retransmitting
	// DISCOVER and REQUEST on its backoff schedule.
	e := newDHCPEnv(t, newTestServer(), pipe.Impairments{Seed: 7, Loss: 0.5})
	deadline := time.Now().Add(20 * time.Second)
	steps := 0
	for {
		if l, ok := e.nic.Lease(); ok {
			require.Equal(t, leased, l.Address)
			break
		}
		require.True(t, time.Now().Before(deadline), "no lease through a lossy link")
		if p := e.clk.Pending(); len(p) == 1 {
			// Each retransmission waits 4, 8, 16, 32, then 64 seconds, ±1 s.
			d := p[0].Sub(e.clk.Now())
			require.True(t, d >= 3*time.Second && d <= 65*time.Second, "timeout %v", d)
			e.advanceTo(p[0])
			steps++
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("lease after %d retransmission timeouts", steps)
}

func TestDHCPRealClockAndClose(t *testing.T) {
	before := runtime.NumGoroutine()
	la, lb, err := pipe.New(nil)
	require.NoError(t, err)
	server, err := netstack.New(nil)
	require.NoError(t, err)
	defer server.Close()
	sn, err := server.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	require.NoError(t, err)
	startDHCPServer(t, server, sn.ID(), newTestServer())

	client, err := netstack.New(nil)
	require.NoError(t, err)
	nic, err := client.AddNIC(la, nil) // no addresses: the DHCP hook starts the client
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = nic.WaitConfigured(ctx)
	require.NoError(t, err)
	require.Contains(t, nic.Addresses(), leased)
	l, ok := nic.Lease()
	require.True(t, ok)
	require.WithinDuration(t, time.Now(), l.Acquired, 10*time.Second)

	require.NoError(t, client.Close())
	require.NoError(t, client.Close())
	server.Close()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 5*time.Second, 10*time.Millisecond,
		"goroutines: before %d, now %d", before, runtime.NumGoroutine())
}
