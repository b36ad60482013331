package netstack

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Config configures a [Stack]. The zero value, and a nil *Config, mean the defaults.
type Config struct {
	// Logger receives the stack's logs; nil means slog.Default().
	Logger *slog.Logger

	// TCPReceiveBuffer and TCPSendBuffer are the default and maximum per-connection TCP buffer
	// sizes in bytes; auto-tuning grows a receive buffer with the rate the application reads
	// at, and a send buffer with the congestion window (twice cwnd × MSS), up to the maximum
	// and within TCPBufferBudget. Zero means 128 KiB default and 8 MiB maximum (receive,
	// Linux's default and a little above its maximum) and 64 KiB default and 4 MiB maximum
	// (send, Linux's maximum). A send buffer holds a copy of what the application wrote, so its
	// size is what each connection costs a server: with 1 MiB send buffers, 500 connections
	// downloading 1 MiB files over TAP held 565–620 MiB and served 850–1,048 requests/s on
	// one core (BenchmarkNetMatrix, tap/1MiB/c500); with 64 KiB ones grown by auto-tuning,
	// 160–193 MiB and 627–806 requests/s. Raise TCPSendBuffer where memory is plentiful and
	// many concurrent large transfers must go faster.
	TCPReceiveBuffer, TCPReceiveBufferMax int
	TCPSendBuffer, TCPSendBufferMax       int

	// TCPBufferBudget is what the TCP connections' send buffers may grow to together, and
	// separately their receive buffers: while n connections are open, auto-tuning grows a
	// connection's buffer to at most TCPBufferBudget/n (never below the default size, never
	// above the maximum), and when a connection opens, send buffers grown beyond the new share
	// are shrunk to it. Without a budget, a peer that reads slowly leaves a send buffer grown to
	// its maximum full: 200 clients reading an 8 MiB file at 1 KiB/s held 4 MiB each. The
	// budget is soft: what a connection queued while fewer were open stays until its peer
	// acknowledges it, so connections that open one after another can hold more than the
	// budget (the 200 slow readers above, 30 MB of send buffers with the default), at most the
	// sum over the k-th of min(maximum, TCPBufferBudget/k). Connections made with [NewTCPConn]
	// are outside the budget. Zero means [DefaultTCPBufferBudget] (8 MiB); negative, none.
	TCPBufferBudget int

	// ListenBacklog bounds, per listener, both the connections waiting in Accept and those
	// still in their handshake (SYN-RCVD); further SYNs are answered with SYN cookies and cost
	// no memory. Zero means 1024.
	ListenBacklog int

	// TCPRACK turns on gVisor's RACK-TLP loss detection (RFC 8985) for TCP, which gVisor
	// enables by default and this package turns off. Its tail loss probe fires after two
	// smoothed round-trip times without an acknowledgement, and retransmits the last segment
	// sent; when the peer's acknowledgements come late, as they do from a host whose CPUs are
	// busy, the probe is spurious, and gVisor then takes the late acknowledgement of the
	// original for a loss and halves the congestion window (it does not wait for the peer's
	// DSACK of the probe). Serving 1 MiB files to 500 connections over TAP, 12% of the
	// segments sent were such retransmissions, each with a recovery, and requests/s fell to a
	// third. Without RACK, TCP recovers losses with SACK and three duplicate
	// acknowledgements (RFC 6675), and a lost last segment by retransmission timeout (at
	// least 200 ms), which costs on lossy paths: over a pipe with 1 ms delay and 1% loss,
	// 8 MiB took 1.7–5.5 s without RACK and 1.0–1.7 s with it (no difference at 0.1%). Turn
	// it on where losses are common and the peers' acknowledgements prompt. The gVisor
	// changes that would make it safe by default are in upstream/README.md.
	TCPRACK bool

	// Forwarding makes the stack route packets between its NICs (IPv4 and IPv6).
	//
	// Known gVisor issue: its IPv4 forwarding path reads the forwarded packet's TTL from a
	// buffer it has just released (forwardPacketWithRoute, after DeepCopyForForwarding), so
	// under heavy load a forwarded packet can leave with a wrong TTL; the race detector
	// reports it. Host stacks, which do not forward, are not affected.
	Forwarding bool
}

// Stack is a userspace TCP/IP stack built on gVisor's pkg/tcpip: IPv4 with ARP, IPv6 with NDP
// and SLAAC, ICMP echo, TCP with SACK, window scaling and timestamps, and UDP, over any number
// of NICs, each backed by a [link.Link].
//
// Sockets come in the standard library's shapes: [Stack.Listen], [Stack.Dial] and
// [Stack.ListenPacket] return net.Listener, net.Conn and net.PacketConn, and
// [Stack.Resolver] returns a *net.Resolver that queries DNS through the stack.
//
// A Stack is safe for concurrent use. Close ends every goroutine it and its links started.
type Stack struct {
	cfg    Config
	log    *slog.Logger
	s      *stack.Stack
	budget *tcpBudget

	closeOnce sync.Once
	closed    chan struct{}
	// wg counts the stack's own goroutines (DHCP clients, the NDP event loop).
	wg sync.WaitGroup

	mu sync.Mutex
	// nics are the NICs in the order they were added.
	nics []*NIC
	// dns are the servers Resolver queries, static ones first, then those from DHCP leases.
	dns []dnsServer
}

// Sentinel errors of the stack.
var (
	// ErrStackClosed is returned by a Stack's methods after Close.
	ErrStackClosed = errors.New("netstack: stack closed")
	// ErrNoAddress is returned when an operation needs an address the stack does not have.
	ErrNoAddress = errors.New("netstack: no address configured")
)

// New creates a stack with no NICs. Add them with [Stack.AddNIC].
func New(cfg *Config) (*Stack, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	setDefault(&c.TCPReceiveBuffer, 128<<10)
	setDefault(&c.TCPReceiveBufferMax, 8<<20)
	setDefault(&c.TCPSendBuffer, 64<<10)
	setDefault(&c.TCPSendBufferMax, 4<<20)
	setDefault(&c.ListenBacklog, 1024)
	if c.TCPBufferBudget == 0 {
		c.TCPBufferBudget = DefaultTCPBufferBudget
	}
	c.TCPReceiveBuffer = min(c.TCPReceiveBuffer, c.TCPReceiveBufferMax)
	c.TCPSendBuffer = min(c.TCPSendBuffer, c.TCPSendBufferMax)

	ndp := newNDPDispatcher()
	s := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{
			ipv4.NewProtocol,
			ipv6.NewProtocolWithOptions(ipv6.Options{
				AutoGenLinkLocal: true,
				NDPDisp:          ndp,
				NDPConfigs: ipv6.NDPConfigurations{
					HandleRAs:                     ipv6.HandlingRAsEnabledWhenForwardingDisabled,
					DiscoverDefaultRouters:        true,
					DiscoverOnLinkPrefixes:        true,
					AutoGenGlobalAddresses:        true,
					MaxRtrSolicitations:           3,
					RtrSolicitationInterval:       ipv6.DefaultNDPConfigurations().RtrSolicitationInterval,
					MaxRtrSolicitationDelay:       ipv6.DefaultNDPConfigurations().MaxRtrSolicitationDelay,
					AutoGenAddressConflictRetries: 1,
				},
			}),
			arp.NewProtocol,
		},
		TransportProtocols: []stack.TransportProtocolFactory{
			tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6,
		},
		// Packet endpoints, which the DHCP client reads replies through before it has an
		// address.
		RawFactory: raw.EndpointFactory{},
		// HandleLocal lets the appliance reach its own addresses: gVisor routes a packet to
		// one of them through the stack itself, as Linux routes it through lo. There is no
		// loopback NIC here, and gVisor has no per-NIC or per-route form of the option, so it
		// stays on (TestDialOwnAddress). Its cost: on send, only when a route is made (a
		// look-up of the destination among the NICs' addresses, once per connection or
		// unconnected datagram); on receive, for every IPv4 and IPv6 packet on a non-loopback NIC, a look-up of the
		// source among the NIC's addresses (two read locks, a map look-up and, on a miss, a
		// pass over the addresses for a subnet broadcast), dropping packets that claim to be
		// from us. Off against on at 4 KiB x 50 over TAP (six interleaved rounds on a loaded
		// machine): 16.2 against 17.0 µs of server CPU per request and the same requests/s,
		// a difference smaller than the spread between rounds.
		HandleLocal: true,
	})
	budget := newTCPBudget(s, &c)
	sack, moderate := tcpip.TCPSACKEnabled(true), tcpip.TCPModerateReceiveBufferOption(true)
	recovery := tcpip.TCPRecovery(0)
	if c.TCPRACK {
		recovery = tcpip.TCPRACKLossDetection
	}
	opts := append(budget.options(c.TCPSendBufferMax, c.TCPReceiveBufferMax), &sack, &moderate, &recovery)
	for _, o := range opts {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			s.Close()
			return nil, fmt.Errorf("netstack: setting TCP option %T: %s", o, err)
		}
	}
	if c.Forwarding {
		for _, p := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
			if err := s.SetForwardingDefaultAndAllNICs(p, true); err != nil {
				s.Close()
				return nil, fmt.Errorf("netstack: enabling forwarding: %s", err)
			}
		}
	}
	st := &Stack{cfg: c, log: c.Logger, s: s, budget: budget, closed: make(chan struct{})}
	ndp.s = st
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		ndp.run()
	}()
	return st, nil
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// TCPIP returns the underlying gVisor stack, for code that needs gVisor features this package
// does not wrap (forwarders, promiscuous gateways). Changes made through it are the caller's
// responsibility.
func (s *Stack) TCPIP() *stack.Stack { return s.s }

// Logger returns the stack's logger.
func (s *Stack) Logger() *slog.Logger { return s.log }

// Done returns a channel closed when the stack is closed.
func (s *Stack) Done() <-chan struct{} { return s.closed }

// Close closes every socket, stops every DHCP client, closes every NIC's link and waits for
// their goroutines to end. It is idempotent.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.wg.Wait()
		s.mu.Lock()
		nics := s.nics
		s.mu.Unlock()
		s.s.Close()
		for _, n := range nics {
			n.link.Close()
		}
		s.s.Wait()
	})
	return nil
}

func (s *Stack) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}
