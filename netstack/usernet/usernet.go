package usernet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/unikit/unikit/internal/parktick"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// The default addressing, the same as QEMU's slirp (see [Config]); unexported so that no
// program can change another's defaults.
var (
	defaultSubnet  = netip.MustParsePrefix("10.0.2.0/24")
	defaultGateway = netip.MustParseAddr("10.0.2.2")
	defaultDNS     = netip.MustParseAddr("10.0.2.3")
	defaultGuest   = netip.MustParseAddr("10.0.2.15")
)

// DefaultLeaseTime is the DHCP lease time when [Config.LeaseTime] is zero.
const DefaultLeaseTime = time.Hour

// Errors returned by [New].
var (
	// ErrBadConfig is returned for an inconsistent [Config].
	ErrBadConfig = errors.New("usernet: invalid configuration")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("usernet: network closed")
)

// Config configures a [Network]. The zero value (or a nil *Config) gives the default
// addressing of the package documentation, DNS forwarding to the host's resolvers and no
// port forwards.
type Config struct {
	// Subnet is the guest network; default 10.0.2.0/24. Only IPv4 is supported.
	Subnet netip.Prefix
	// Gateway is the gateway's address in Subnet; default the subnet's .2.
	Gateway netip.Addr
	// DNS is the address of the DNS forwarder in Subnet; default the subnet's .3.
	DNS netip.Addr
	// Guest is the address leased to the guest by DHCP and the target of port forwards;
	// default the subnet's .15. A guest configured statically must use this address for
	// forwards to reach it.
	Guest netip.Addr
	// MTU is the link MTU, also announced by DHCP; default 1500.
	MTU int
	// LeaseTime is the DHCP lease time; default [DefaultLeaseTime].
	LeaseTime time.Duration

	// DNSUpstream are the resolvers DNS queries are forwarded to, tried in order. When nil
	// they are read from /etc/resolv.conf; when empty but not nil, DNS queries are answered
	// with SERVFAIL.
	DNSUpstream []netip.AddrPort
	// DNSTimeout bounds each upstream exchange; default 3 s.
	DNSTimeout time.Duration

	// Forwards are the host-to-guest TCP port forwards.
	Forwards []Forward

	// HostLoopback makes TCP connections from the guest to the gateway address connect to
	// the same port on the host's loopback (127.0.0.1). Off by default: it exposes every
	// loopback service of the host to the guest.
	HostLoopback bool

	// NoOffload turns off checksum offload and TSO/GRO on the in-memory link between the
	// gateway and the guest. With offloads (the default) the two stacks exchange 64 KiB TCP
	// super-frames and never compute checksums; without, every frame is complete, which is
	// what a capture of the guest's link shows best.
	NoOffload bool

	// Logger receives the network's diagnostics; default slog.Default().
	Logger *slog.Logger
}

// Forward is a TCP port forward from a host address to a guest port.
type Forward struct {
	// Host is the host address to listen on, e.g. "127.0.0.1:8080"; port 0 picks a free
	// port (see [Network.ForwardAddrs]).
	Host string
	// GuestPort is the TCP port on the guest address the connections are relayed to.
	GuestPort uint16
}

// Network is a running user-mode network: the gateway stack, its services and the guest's
// end of the link. Its methods are safe for concurrent use.
type Network struct {
	cfg   Config
	log   *slog.Logger
	stack *netstack.Stack
	guest *pipe.Link

	ctx    context.Context
	cancel context.CancelFunc

	fwdAddrs []net.Addr

	// dnsBufs holds *[]byte upstream receive buffers of maxDNSMessage bytes.
	dnsBufs sync.Pool
	// relayBufs holds *[]byte copy buffers of relayBufSize bytes, lent to a relayed
	// connection while data moves.
	relayBufs sync.Pool

	// parkerOnce starts the parker of idle relay directions (park.go), whose clock
	// parkClock is; kernel parks host connections on Linux.
	parkerOnce sync.Once
	parkClock  parktick.Clock
	kernel     kernelParking

	closeOnce sync.Once
	closeErr  error

	// mu guards closed, conns and the Add side of wg, so that no goroutine is added once
	// Close has started waiting.
	mu     sync.Mutex
	closed bool
	conns  map[io.Closer]struct{}
	wg     sync.WaitGroup
	// closers are closed by Close before it waits: listeners and packet conns.
	closers []io.Closer
}

// New starts a user-mode network with cfg (nil means the defaults). The guest attaches its
// stack to [Network.Link]. Close releases everything.
func New(cfg *Config) (*Network, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Network{
		cfg:   c,
		log:   c.Logger,
		conns: make(map[io.Closer]struct{}),
	}
	n.dnsBufs.New = func() any { b := make([]byte, maxDNSMessage); return &b }
	n.relayBufs.New = func() any { b := make([]byte, relayBufSize); return &b }
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// The gateway stack's TCP buffers: default and maximum per connection, and the budget they
// share (netstack.Config). The gateway relays between the guest, over an in-memory link whose
// round trip is a goroutine hand-off, and the host's kernel sockets, which buffer the host's
// side themselves; its windows need only cover the link. Small buffers keep the relay's
// throughput and hold little for a host peer that reads slowly: the relay reads from the
// gateway only as fast as the host takes it, so the gateway's small receive window stops the
// guest, whose data then waits in the guest's send buffer, under the guest stack's budget.
const (
	gatewayTCPBuffer    = 64 << 10
	gatewayTCPBufferMax = 1 << 20
	gatewayTCPBudget    = 2 << 20
)

// gatewayTimeWait is how long the gateway's connections stay in TIME-WAIT. The gateway
// closes first whenever the host's peer does, so a burst of connections ending leaves as many
// endpoints there, a few KiB each; TIME-WAIT guards against stray segments of an old
// connection, which the in-memory link to the guest, losing and delaying nothing beyond a
// goroutine hand-off, never carries for long: one second instead of gVisor's (and Linux's) 60.
const gatewayTimeWait = time.Second

// MACs of the two ends of the link, locally administered (QEMU slirp's guest MAC is
// 52:54:00:12:34:56; these are distinct so that a capture tells the sides apart).
var (
	gatewayMAC = net.HardwareAddr{0x02, 0x75, 0x6e, 0x00, 0x00, 0x02}
	guestMAC   = net.HardwareAddr{0x02, 0x75, 0x6e, 0x00, 0x00, 0x0f}
)

// start builds the link pair and the gateway stack and starts the services. On error the
// caller closes n.
func (n *Network) start() error {
	gwLink, guestLink, err := newLinkPair(&n.cfg)
	if err != nil {
		return err
	}
	n.guest = guestLink
	s, err := netstack.New(&netstack.Config{Logger: n.log,
		TCPReceiveBuffer: gatewayTCPBuffer, TCPReceiveBufferMax: gatewayTCPBufferMax,
		TCPSendBuffer: gatewayTCPBuffer, TCPSendBufferMax: gatewayTCPBufferMax,
		TCPBufferBudget: gatewayTCPBudget})
	if err != nil {
		gwLink.Close()
		return fmt.Errorf("usernet: creating gateway stack: %w", err)
	}
	n.stack = s
	tw := tcpip.TCPTimeWaitTimeoutOption(gatewayTimeWait)
	if terr := s.TCPIP().SetTransportProtocolOption(tcp.ProtocolNumber, &tw); terr != nil {
		gwLink.Close()
		return fmt.Errorf("usernet: setting the gateway's TIME-WAIT: %s", terr)
	}
	bits := n.cfg.Subnet.Bits()
	nic, err := s.AddNIC(gwLink, &netstack.NICConfig{
		Name: "usernet",
		Addresses: []netip.Prefix{
			netip.PrefixFrom(n.cfg.Gateway, bits),
			netip.PrefixFrom(n.cfg.DNS, bits),
		},
		NoDHCP: true,
	})
	if err != nil {
		gwLink.Close()
		return fmt.Errorf("usernet: attaching gateway: %w", err)
	}

	// DHCP: a UDP endpoint of our own, bound to the NIC so that broadcasts to
	// 255.255.255.255 can be sent (and received) without a route, with SO_BROADCAST.
	var wq waiter.Queue
	ep, terr := s.TCPIP().NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return fmt.Errorf("usernet: DHCP endpoint: %s", terr)
	}
	ep.SocketOptions().SetBroadcast(true)
	if terr := ep.Bind(tcpip.FullAddress{NIC: tcpip.NICID(nic.ID()), Port: dhcpServerPort}); terr != nil {
		ep.Close()
		return fmt.Errorf("usernet: binding DHCP server: %s", terr)
	}
	dhcpConn := netstack.NewUDPConn(&wq, ep)
	if !n.addCloser(dhcpConn) {
		return ErrClosed
	}
	n.goAdd(func() { n.serveDHCP(dhcpConn) })

	// DNS over UDP and TCP on the DNS address.
	if n.cfg.DNSUpstream == nil {
		n.cfg.DNSUpstream = readResolvConf("/etc/resolv.conf")
	}
	dnsAddr := netip.AddrPortFrom(n.cfg.DNS, dnsPort).String()
	dnsConn, err := s.ListenPacket("udp4", dnsAddr)
	if err != nil {
		return fmt.Errorf("usernet: DNS forwarder: %w", err)
	}
	if !n.addCloser(dnsConn) {
		return ErrClosed
	}
	n.goAdd(func() { n.serveDNS(dnsConn) })
	dnsLn, err := s.Listen("tcp4", dnsAddr)
	if err != nil {
		return fmt.Errorf("usernet: DNS forwarder: %w", err)
	}
	if !n.addCloser(dnsLn) {
		return ErrClosed
	}
	n.goAdd(func() { n.serveDNSTCP(dnsLn) })

	if n.cfg.HostLoopback {
		fwd := tcp.NewForwarder(s.TCPIP(), 0, maxPendingLoopback, n.handleHostLoopback)
		s.TCPIP().SetTransportProtocolHandler(tcp.ProtocolNumber, fwd.HandlePacket)
	}

	for _, f := range n.cfg.Forwards {
		ln, err := net.Listen("tcp", f.Host)
		if err != nil {
			return fmt.Errorf("usernet: forward to guest port %d: %w", f.GuestPort, err)
		}
		if !n.addCloser(ln) {
			return ErrClosed
		}
		n.fwdAddrs = append(n.fwdAddrs, ln.Addr())
		port := f.GuestPort
		n.goAdd(func() { n.serveForward(ln, port) })
	}
	return nil
}

// linkQueueDepth is the number of receive buffers of each end of the link: with TSO each
// holds a 64 KiB super-frame, so that is 4 MiB in flight each way, plenty for one host's
// traffic, where the pipe's default of 256 would keep 16 MiB per end resident once a burst had
// touched them all.
const linkQueueDepth = 64

// newLinkPair returns the in-memory link between the gateway and the guest for c, which has
// its defaults filled in.
func newLinkPair(c *Config) (gw, guest *pipe.Link, err error) {
	pc := &pipe.Config{MTU: c.MTU, MACA: gatewayMAC, MACB: guestMAC, QueueDepth: linkQueueDepth}
	if !c.NoOffload {
		pc.Features = link.FeatureTxCsum | link.FeatureRxCsum |
			link.FeatureTxTSO4 | link.FeatureTxTSO6 | link.FeatureRxGRO
	}
	gw, guest, err = pipe.New(pc)
	if err != nil {
		return nil, nil, fmt.Errorf("usernet: creating link: %w", err)
	}
	return gw, guest, nil
}

func (cfg *Config) withDefaults() (Config, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if !c.Subnet.IsValid() {
		c.Subnet = defaultSubnet
	}
	c.Subnet = c.Subnet.Masked()
	if !c.Subnet.Addr().Is4() || c.Subnet.Bits() > 29 {
		return c, fmt.Errorf("%w: subnet %v must be IPv4 with a prefix of at most /29", ErrBadConfig, c.Subnet)
	}
	nth := func(i uint32) netip.Addr {
		b := c.Subnet.Addr().As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += i
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	hostBits := 32 - c.Subnet.Bits()
	if !c.Gateway.IsValid() {
		c.Gateway = nth(2)
	}
	if !c.DNS.IsValid() {
		c.DNS = nth(3)
	}
	if !c.Guest.IsValid() {
		if hostBits >= 5 {
			c.Guest = nth(15)
		} else {
			c.Guest = nth(4)
		}
	}
	bcast := nth(uint32(1)<<hostBits - 1)
	for _, a := range []struct {
		name string
		addr netip.Addr
	}{{"gateway", c.Gateway}, {"DNS", c.DNS}, {"guest", c.Guest}} {
		if !c.Subnet.Contains(a.addr) || a.addr == c.Subnet.Addr() || a.addr == bcast {
			return c, fmt.Errorf("%w: %s address %v is not a host address of %v", ErrBadConfig, a.name, a.addr, c.Subnet)
		}
	}
	if c.Guest == c.Gateway || c.Guest == c.DNS {
		return c, fmt.Errorf("%w: guest address %v collides with the gateway or DNS address", ErrBadConfig, c.Guest)
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.MTU < 576 || c.MTU > 65535-link.EthernetHeaderLen {
		return c, fmt.Errorf("%w: MTU %d out of range [576, %d]", ErrBadConfig, c.MTU, 65535-link.EthernetHeaderLen)
	}
	if c.LeaseTime == 0 {
		c.LeaseTime = DefaultLeaseTime
	}
	if c.LeaseTime < time.Minute || c.LeaseTime > 365*24*time.Hour {
		return c, fmt.Errorf("%w: lease time %v out of range", ErrBadConfig, c.LeaseTime)
	}
	if c.DNSTimeout == 0 {
		c.DNSTimeout = 3 * time.Second
	}
	for _, f := range c.Forwards {
		if f.GuestPort == 0 {
			return c, fmt.Errorf("%w: forward from %q has no guest port", ErrBadConfig, f.Host)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Link returns the guest's end of the network, for the application's stack to attach to
// (netstack.Stack.AddNIC). It is the same link on every call and may be attached once.
func (n *Network) Link() link.Link { return n.guest }

// Subnet returns the guest network.
func (n *Network) Subnet() netip.Prefix { return n.cfg.Subnet }

// Gateway returns the gateway's address, the guest's default router.
func (n *Network) Gateway() netip.Addr { return n.cfg.Gateway }

// DNS returns the address of the DNS forwarder.
func (n *Network) DNS() netip.Addr { return n.cfg.DNS }

// Stats returns the gateway stack's counters; among its TCP connections is the gateway's end
// of every connection forwarded to the guest.
func (n *Network) Stats() netstack.Stats { return n.stack.Stats() }

// Guest returns the address leased to the guest and targeted by port forwards.
func (n *Network) Guest() netip.Addr { return n.cfg.Guest }

// ForwardAddrs returns the host address each of [Config.Forwards] listens on, in order,
// with the port chosen by the kernel filled in.
func (n *Network) ForwardAddrs() []net.Addr { return append([]net.Addr(nil), n.fwdAddrs...) }

// Close stops the network: it closes the forward listeners and every relayed connection,
// then the gateway stack, and waits for every goroutine the Network started. The guest's
// link is closed by the stack it is attached to; Close closes it too, which is harmless.
// Close is idempotent.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.mu.Lock()
		n.closed = true
		closers := n.closers
		n.closers = nil
		conns := make([]io.Closer, 0, len(n.conns))
		for c := range n.conns {
			conns = append(conns, c)
		}
		n.mu.Unlock()
		var errs []error
		for _, c := range closers {
			if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		if n.stack != nil {
			if err := n.stack.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		n.wg.Wait()
		if n.guest != nil {
			n.guest.Close()
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// enter registers a goroutine with Close's wait group; it returns false once Close has
// started, and then the goroutine must not run. A goroutine that entered calls n.wg.Done.
func (n *Network) enter() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// goAdd runs f in a goroutine tracked by Close; it returns false (and does not run f) once
// Close has started.
func (n *Network) goAdd(f func()) bool {
	if !n.enter() {
		return false
	}
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// addCloser registers c to be closed by Close; it closes c at once and returns false if
// Close has already started.
func (n *Network) addCloser(c io.Closer) bool {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		c.Close()
		return false
	}
	n.closers = append(n.closers, c)
	n.mu.Unlock()
	return true
}

// track registers a relayed connection so that Close ends it; untrack removes it.
func (n *Network) track(c io.Closer) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *Network) untrack(c io.Closer) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}
