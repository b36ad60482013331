package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/unikit/unikit/guest"
	"github.com/unikit/unikit/guest/kernelnet"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pcap"
	"github.com/unikit/unikit/netstack/usernet"
	"github.com/unikit/unikit/observe"
)

// Network is an opened network: the stack attached to it (none with -net kernel) and, for each
// port the application serves, a listener and the address it is reached at. Close releases
// everything.
type Network struct {
	spec         Spec
	ports        []uint16
	log          *slog.Logger
	hostLoopback bool

	stack *netstack.Stack
	nic   *netstack.NIC
	user  *usernet.Network
	pcapF *os.File

	debug  *ListenAddr     // the debug listener's, or nil; its port is the last of ports
	frames *observe.Frames // recent frames, kept while the debug listener is on

	// addrs[i] is where ports[i] is reached from outside.
	addrs []netip.AddrPort

	mu     sync.Mutex
	kernLn map[uint16]net.Listener // -net kernel: opened by Open, handed out by Listen once
	kernIf *kernelnet.Interface    // -net kernel inside a VM: the interface Open configured

	closeOnce sync.Once
	closeErr  error
}

// Open checks the flags and opens the network for an application serving the given TCP ports
// of its stack: it creates the stack, attaches it (to the user-mode network, a TAP device, a
// socket, a driver, ...), waits until it has an address (by DHCP unless -ip was given,
// bounded by ctx) and, with -net user, forwards a host address to each port (see -listen).
// With -net kernel it listens on those host addresses instead. ports may be empty, for an
// application that only dials out.
func (f *Flags) Open(ctx context.Context, ports ...uint16) (*Network, error) {
	spec, err := f.Parse()
	if err != nil {
		return nil, err
	}
	for i, p := range ports {
		if p == 0 || slices.Contains(ports[:i], p) {
			return nil, fmt.Errorf("%w: stack ports %s: each must be 1 to 65535 and given once", ErrBadFlag, portList(ports))
		}
	}
	hosts, err := hostAddrs(spec.Listen, ports)
	if err != nil {
		return nil, err
	}
	if d := f.debug; d != nil {
		// The debug listener is one more port of the network, with a host address of its own.
		if slices.Contains(ports, d.Port) {
			return nil, fmt.Errorf("%w: -debug-listen %s: the application serves stack port %d itself; "+
				"name another with HOST:PORT=STACKPORT", ErrBadFlag, d, d.Port)
		}
		if len(hosts) < len(ports) {
			hosts = make([]string, len(ports)) // a kind of network without -listen
		}
		ports = append(slices.Clone(ports), d.Port)
		hosts = append(hosts, d.Host)
	}
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &Network{spec: spec, ports: slices.Clone(ports), log: log, hostLoopback: f.HostLoopback,
		addrs: make([]netip.AddrPort, len(ports)), debug: f.debug}
	if err := n.open(ctx, f.nets, hosts); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// open does Open's work; on error the caller closes n.
func (n *Network) open(ctx context.Context, nets *Nets, hosts []string) error {
	spec := &n.spec
	if !spec.userspace() {
		if guest.InGuest() {
			return n.openGuestKernel(ctx)
		}
		return n.listenKernel(hosts)
	}

	nicCfg := &netstack.NICConfig{Name: spec.Net}
	if spec.Prefix.IsValid() {
		nicCfg.Addresses = []netip.Prefix{spec.Prefix}
		nicCfg.Gateway = spec.Gateway
	}
	var l link.Link
	if spec.Net == "user" {
		var err error
		if l, err = n.openUser(nets, hosts); err != nil {
			return err
		}
		if spec.Prefix.IsValid() {
			nicCfg.Gateway = n.user.Gateway()
			nicCfg.DNS = []netip.Addr{n.user.DNS()}
		}
	} else {
		k := nets.link(spec.Net)
		var err error
		if l, err = k.Open(ctx, spec.Arg, n.log); err != nil {
			return fmt.Errorf("appliance: -net %s: %w", spec.Mode(), err)
		}
	}

	if spec.Pcap != "" {
		f, err := os.Create(spec.Pcap)
		if err != nil {
			l.Close()
			return fmt.Errorf("appliance: -pcap: %w", err)
		}
		n.pcapF = f
		l = pcap.New(l, f, nil)
	}

	if n.debug != nil {
		// The debug listener's time-sequence graphs read the last frames, kept in a ring.
		n.frames = observe.NewFrames(0)
		l = pcap.New(l, n.frames, &pcap.Config{Snaplen: observe.FramesSnaplen, Nanoseconds: true, BufferSize: 1 << 20})
	}

	s, err := netstack.New(&netstack.Config{Logger: n.log, TCPBufferBudget: spec.TCPBuffers})
	if err != nil {
		l.Close()
		return err
	}
	n.stack = s
	nic, err := s.AddNIC(l, nicCfg)
	if err != nil {
		l.Close()
		return err
	}
	n.nic = nic
	p, err := n.waitAddress(ctx, nic)
	if err != nil {
		return err
	}
	for i, port := range n.ports {
		if !n.addrs[i].IsValid() {
			n.addrs[i] = netip.AddrPortFrom(p.Addr(), port)
		}
	}
	return nil
}

// dhcpPatience is how long Open waits for a DHCP lease before it says that it is waiting, and
// on which network: a lease normally comes within milliseconds, and a network without a DHCP
// server would otherwise keep the appliance silent until -open-timeout.
const dhcpPatience = 2 * time.Second

// waitAddress waits until nic has an address: at once with -ip, else when DHCP has bound a
// lease. Waiting for DHCP longer than dhcpPatience is logged, and a deadline reached without a
// lease gets an error that says what is missing.
func (n *Network) waitAddress(ctx context.Context, nic *netstack.NIC) (netip.Prefix, error) {
	mode := n.spec.Mode()
	if !n.spec.Prefix.IsValid() {
		pctx, cancel := context.WithTimeout(ctx, dhcpPatience)
		p, err := nic.WaitConfigured(pctx)
		cancel()
		if err == nil {
			return p, nil
		}
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) { // only the patience ran out
			attrs := []any{"net", mode, "waited", dhcpPatience}
			if dl, ok := ctx.Deadline(); ok {
				attrs = append(attrs, "gives up in", time.Until(dl).Round(time.Second))
			}
			n.log.Warn("appliance: no DHCP lease yet, still waiting; without a DHCP server on that network, "+
				"give -ip CIDR (and -gw) for a static address", attrs...)
		}
	}
	p, err := nic.WaitConfigured(ctx)
	switch {
	case err == nil:
		return p, nil
	case !n.spec.Prefix.IsValid() && errors.Is(err, context.DeadlineExceeded):
		return p, fmt.Errorf("appliance: no DHCP lease on -net %s before -open-timeout: no DHCP server answered "+
			"on that network; give -ip CIDR (and -gw) for a static address: %w", mode, err)
	}
	return p, fmt.Errorf("appliance: waiting for an address on -net %s: %w", mode, err)
}

// openUser starts the user-mode network with a forward from hosts[i] to each served port, and
// returns the stack's link: the network's own, or a NIC driver's in front of it.
func (n *Network) openUser(nets *Nets, hosts []string) (link.Link, error) {
	spec := &n.spec
	uc := &usernet.Config{Logger: n.log, HostLoopback: n.hostLoopback}
	for i, port := range n.ports {
		uc.Forwards = append(uc.Forwards, usernet.Forward{Host: hosts[i], GuestPort: port})
	}
	if spec.Prefix.IsValid() {
		uc.Subnet = spec.Prefix.Masked()
		uc.Guest = spec.Prefix.Addr()
		uc.Gateway = spec.Gateway // zero: the subnet's .2
	}
	u, err := usernet.New(uc)
	if err != nil {
		return nil, err
	}
	n.user = u
	for i, a := range u.ForwardAddrs() { // in the order of uc.Forwards
		n.addrs[i] = a.(*net.TCPAddr).AddrPort()
	}
	l := u.Link()
	if spec.NIC != "" {
		if l, err = nets.nic(spec.NIC).Attach(l); err != nil {
			return nil, fmt.Errorf("appliance: -net %s: %w", spec.Mode(), err)
		}
	}
	return l, nil
}

// listenKernel listens on hosts[i] for each served port, with the host's own sockets.
func (n *Network) listenKernel(hosts []string) error {
	n.kernLn = make(map[uint16]net.Listener, len(n.ports))
	for i, port := range n.ports {
		ln, err := net.Listen("tcp", hosts[i])
		if err != nil {
			return err
		}
		n.kernLn[port] = ln
		n.addrs[i] = ln.Addr().(*net.TCPAddr).AddrPort()
	}
	return nil
}

// Listen returns a listener for one of the ports the network was opened for: on the stack
// (every address), or with -net kernel the host listener opened for it, which it hands out
// once. For other ports of the stack, use [Network.Stack] directly.
func (n *Network) Listen(port uint16) (net.Listener, error) {
	if !slices.Contains(n.ports, port) {
		return nil, fmt.Errorf("appliance: port %d: the network was opened for %s", port, portList(n.ports))
	}
	if n.stack != nil {
		return n.stack.Listen("tcp", fmt.Sprintf(":%d", port))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ln := n.kernLn[port]
	if ln == nil {
		return nil, fmt.Errorf("appliance: -net kernel listener for port %d already taken or closed", port)
	}
	delete(n.kernLn, port)
	return ln, nil
}

// Dial connects to address on the named network ("tcp", "udp", ...) from the stack, or with
// -net kernel from the host's sockets.
func (n *Network) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if n.stack != nil {
		return n.stack.Dial(ctx, network, address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Resolver returns a resolver that queries the stack's DNS servers over the stack, or with
// -net kernel the host's resolver.
func (n *Network) Resolver() *net.Resolver {
	if n.stack != nil {
		return n.stack.Resolver()
	}
	return net.DefaultResolver
}

// Addr returns where the given port can be reached: the host address forwarded to it (user),
// the host listener's address (kernel), or the stack's own address and the port (the other
// kinds). It returns the zero AddrPort for a port the network was not opened for.
func (n *Network) Addr(port uint16) netip.AddrPort {
	if i := slices.Index(n.ports, port); i >= 0 {
		return n.addrs[i]
	}
	return netip.AddrPort{}
}

// Ports returns the ports the network was opened for, in the order given to Open.
func (n *Network) Ports() []uint16 { return slices.Clone(n.ports) }

// Mode returns the -net value the network was opened with.
func (n *Network) Mode() string { return n.spec.Mode() }

// Spec returns the checked flag values.
func (n *Network) Spec() Spec { return n.spec }

// Stack returns the userspace stack, or nil with -net kernel.
func (n *Network) Stack() *netstack.Stack { return n.stack }

// NIC returns the stack's NIC, or nil with -net kernel.
func (n *Network) NIC() *netstack.NIC { return n.nic }

// User returns the user-mode network with -net user, or nil.
func (n *Network) User() *usernet.Network { return n.user }

// Close closes the stack (and with it its link and the capture), the user-mode network, the
// capture file and, with -net kernel, the listeners Listen did not hand out. It is idempotent.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.stack != nil {
			errs = append(errs, n.stack.Close())
		}
		if n.user != nil {
			errs = append(errs, n.user.Close())
		}
		if n.pcapF != nil {
			errs = append(errs, n.pcapF.Close())
		}
		n.mu.Lock()
		for _, ln := range n.kernLn {
			errs = append(errs, ln.Close())
		}
		n.kernLn = nil
		n.mu.Unlock()
		if n.kernIf != nil {
			errs = append(errs, n.kernIf.Close())
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
