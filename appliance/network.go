package appliance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pcap"
	"github.com/unikit/unikit/netstack/link/socket"
	"github.com/unikit/unikit/netstack/link/tap"
	"github.com/unikit/unikit/netstack/usernet"
	"github.com/unikit/unikit/virtio"
)

// DefaultListen is the default of -listen.
const DefaultListen = "127.0.0.1:8080"

// Errors of this package.
var (
	// ErrBadFlag is returned for a flag value that cannot be used.
	ErrBadFlag = errors.New("netflag: invalid flag value")
)

// Kind is the kind of network a -net value selects.
type Kind int

// The kinds of network.
const (
	User         Kind = iota // embedded user-mode network (usernet)
	TAP                      // Linux TAP device
	Socket                   // QEMU stream protocol, connecting to a UNIX socket
	SocketListen             // QEMU stream protocol, listening on a UNIX socket
	Kernel                   // host sockets, no userspace stack
	VhostUser                // the virtio driver as a vhost-user frontend
)

// String returns the -net keyword of k.
func (k Kind) String() string {
	switch k {
	case User:
		return "user"
	case TAP:
		return "tap"
	case Socket:
		return "socket"
	case SocketListen:
		return "socket-listen"
	case Kernel:
		return "kernel"
	case VhostUser:
		return "vhost-user"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Flags are the values of the network flags, as registered by [Register].
type Flags struct {
	Net    string // -net
	Listen string // -listen
	IP     string // -ip
	GW     string // -gw
	Pcap   string // -pcap

	// Logger, if set, receives the stacks' logs; nil means slog.Default().
	Logger *slog.Logger
}

// Register defines -net, -listen, -ip, -gw and -pcap on fs and returns the values they fill
// in when fs is parsed.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Net, "net", "user",
		"network: user, user,nic=virtio, user,nic=xen, tap:NAME, socket:PATH, socket-listen:PATH, vhost-user:PATH or kernel")
	fs.StringVar(&f.Listen, "listen", DefaultListen,
		"host address forwarded to the service port (-net user) or listened on (-net kernel)")
	fs.StringVar(&f.IP, "ip", "", "static address of the stack as CIDR, e.g. 10.0.2.15/24 (default: DHCP)")
	fs.StringVar(&f.GW, "gw", "", "default gateway with -ip")
	fs.StringVar(&f.Pcap, "pcap", "", "write every frame of the stack's link to this pcap file")
	return f
}

// Spec is the checked meaning of [Flags].
type Spec struct {
	Kind Kind
	// Path is the TAP device name or the socket path.
	Path string
	// Listen is the -listen address (user and kernel).
	Listen string
	// Prefix is the static address (-ip); invalid for DHCP.
	Prefix netip.Prefix
	// Gateway is -gw; invalid if not given.
	Gateway netip.Addr
	// Pcap is the capture file, or empty.
	Pcap string
	// Driver names the NIC driver put between the stack and the user-mode network with
	// -net user,nic=DRIVER ("xen"); empty for the stack attached directly.
	Driver string
}

// Parse checks the flag values and returns what they mean, without opening anything.
func (f *Flags) Parse() (Spec, error) {
	var s Spec
	v := f.Net
	switch {
	case v == "user":
		s.Kind = User
	case v == "kernel":
		s.Kind = Kernel
	case strings.HasPrefix(v, "user,"):
		opt := strings.TrimPrefix(v, "user,")
		switch opt {
		case "nic=xen", "nic=virtio":
			s.Kind, s.Driver = User, strings.TrimPrefix(opt, "nic=")
		default:
			return s, fmt.Errorf("%w: -net %q: unknown user option %q (nic=xen or nic=virtio)", ErrBadFlag, v, opt)
		}
	case strings.HasPrefix(v, "vhost-user:"):
		s.Kind, s.Path = VhostUser, strings.TrimPrefix(v, "vhost-user:")
	case strings.HasPrefix(v, "tap:"):
		s.Kind, s.Path = TAP, strings.TrimPrefix(v, "tap:")
		if s.Path == "" || len(s.Path) > 15 || strings.ContainsAny(s.Path, "/ \t\n") {
			return s, fmt.Errorf("%w: -net %q: TAP device name must be 1 to 15 characters without '/' or spaces", ErrBadFlag, v)
		}
	case strings.HasPrefix(v, "socket:"):
		s.Kind, s.Path = Socket, strings.TrimPrefix(v, "socket:")
	case strings.HasPrefix(v, "socket-listen:"):
		s.Kind, s.Path = SocketListen, strings.TrimPrefix(v, "socket-listen:")
	default:
		return s, fmt.Errorf("%w: -net %q: want user, tap:NAME, socket:PATH, socket-listen:PATH or kernel", ErrBadFlag, v)
	}
	if (s.Kind == Socket || s.Kind == SocketListen) && s.Path == "" {
		return s, fmt.Errorf("%w: -net %q: missing socket path", ErrBadFlag, v)
	}

	if s.Kind == User || s.Kind == Kernel {
		s.Listen = f.Listen
		if s.Listen == "" {
			s.Listen = DefaultListen
		}
		if _, _, err := net.SplitHostPort(s.Listen); err != nil {
			return s, fmt.Errorf("%w: -listen %q: %v", ErrBadFlag, f.Listen, err)
		}
	}
	if f.IP != "" {
		p, err := netip.ParsePrefix(f.IP)
		if err != nil {
			return s, fmt.Errorf("%w: -ip %q: want an address with prefix length, e.g. 10.0.2.15/24", ErrBadFlag, f.IP)
		}
		if p.Addr().Zone() != "" || p.Addr().IsUnspecified() || p.Addr().IsMulticast() || p.Addr() == p.Masked().Addr() && p.Bits() < p.Addr().BitLen()-1 {
			return s, fmt.Errorf("%w: -ip %q is not a host address", ErrBadFlag, f.IP)
		}
		s.Prefix = p
	}
	if f.GW != "" {
		if f.IP == "" {
			return s, fmt.Errorf("%w: -gw needs -ip (with DHCP the gateway comes from the lease)", ErrBadFlag)
		}
		g, err := netip.ParseAddr(f.GW)
		if err != nil {
			return s, fmt.Errorf("%w: -gw %q: %v", ErrBadFlag, f.GW, err)
		}
		if g.Is4() != s.Prefix.Addr().Is4() {
			return s, fmt.Errorf("%w: -gw %v and -ip %v are of different families", ErrBadFlag, g, s.Prefix)
		}
		s.Gateway = g
	}
	switch s.Kind {
	case Kernel:
		if s.Prefix.IsValid() || f.Pcap != "" {
			return s, fmt.Errorf("%w: -ip, -gw and -pcap need a userspace stack, not -net kernel", ErrBadFlag)
		}
	case User:
		if s.Prefix.IsValid() && !s.Prefix.Addr().Is4() {
			return s, fmt.Errorf("%w: -net user is IPv4 only; -ip %v", ErrBadFlag, s.Prefix)
		}
		if s.Gateway.IsValid() && !s.Prefix.Contains(s.Gateway) {
			return s, fmt.Errorf("%w: -gw %v outside -ip %v, where the user-mode network's gateway lives", ErrBadFlag, s.Gateway, s.Prefix)
		}
	}
	s.Pcap = f.Pcap
	return s, nil
}

// Network is an opened network: the stack attached to it (none with -net kernel) and what
// the example needs to serve its port. Close releases everything.
type Network struct {
	spec Spec
	port uint16

	stack *netstack.Stack
	nic   *netstack.NIC
	user  *usernet.Network
	pcapF *os.File

	mu     sync.Mutex
	kernLn net.Listener // -net kernel: opened by Open, handed out by Listen once
	addr   netip.AddrPort

	closeOnce sync.Once
	closeErr  error
}

// Open checks the flags and opens the network for a service on servicePort: it creates the
// stack, attaches it (to the user-mode network, the TAP device or the socket), waits until it
// has an address (by DHCP unless -ip was given, bounded by ctx) and, with -net user,
// forwards -listen to servicePort. With -net kernel it listens on -listen instead.
func (f *Flags) Open(ctx context.Context, servicePort uint16) (*Network, error) {
	spec, err := f.Parse()
	if err != nil {
		return nil, err
	}
	if servicePort == 0 {
		return nil, fmt.Errorf("%w: service port 0", ErrBadFlag)
	}
	n := &Network{spec: spec, port: servicePort}
	if err := n.open(ctx, f.Logger); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Network) open(ctx context.Context, log *slog.Logger) error {
	spec := n.spec
	if spec.Kind == Kernel {
		ln, err := net.Listen("tcp", spec.Listen)
		if err != nil {
			return err
		}
		n.kernLn = ln
		n.addr = ln.Addr().(*net.TCPAddr).AddrPort()
		return nil
	}

	nicCfg := &netstack.NICConfig{Name: spec.Kind.String()}
	if spec.Prefix.IsValid() {
		nicCfg.Addresses = []netip.Prefix{spec.Prefix}
		nicCfg.Gateway = spec.Gateway
	}
	var link link.Link
	switch spec.Kind {
	case User:
		uc := &usernet.Config{
			Logger:   log,
			Forwards: []usernet.Forward{{Host: spec.Listen, GuestPort: n.port}},
		}
		if spec.Prefix.IsValid() {
			uc.Subnet = spec.Prefix.Masked()
			uc.Guest = spec.Prefix.Addr()
			uc.Gateway = spec.Gateway // zero: the subnet's .2
		}
		u, err := usernet.New(uc)
		if err != nil {
			return err
		}
		n.user = u
		link = u.Link()
		if spec.Driver != "" {
			if link, err = driverLink(spec.Driver, link); err != nil {
				return fmt.Errorf("netflag: -net user,nic=%s: %w", spec.Driver, err)
			}
		}
		if spec.Prefix.IsValid() {
			nicCfg.Gateway = u.Gateway()
			nicCfg.DNS = []netip.Addr{u.DNS()}
		}
		if addrs := u.ForwardAddrs(); len(addrs) > 0 {
			n.addr = addrs[0].(*net.TCPAddr).AddrPort()
		}
	case TAP:
		l, err := tap.Open(spec.Path, nil)
		if err != nil {
			return fmt.Errorf("netflag: -net tap:%s: %w", spec.Path, err)
		}
		link = l
	case Socket:
		l, err := socket.Dial(ctx, "unix", spec.Path, &socket.Config{Logger: log})
		if err != nil {
			return fmt.Errorf("netflag: -net socket:%s: %w", spec.Path, err)
		}
		link = l
	case SocketListen:
		l, err := socket.Listen("unix", spec.Path, &socket.Config{Logger: log})
		if err != nil {
			return fmt.Errorf("netflag: -net socket-listen:%s: %w", spec.Path, err)
		}
		link = l
	case VhostUser:
		l, err := virtio.DialVhostUser(spec.Path, nil)
		if err != nil {
			return fmt.Errorf("netflag: -net vhost-user:%s: %w", spec.Path, err)
		}
		link = l
	}

	if spec.Pcap != "" {
		f, err := os.Create(spec.Pcap)
		if err != nil {
			link.Close()
			return fmt.Errorf("netflag: -pcap: %w", err)
		}
		n.pcapF = f
		link = pcap.New(link, f, nil)
	}

	s, err := netstack.New(&netstack.Config{Logger: log})
	if err != nil {
		link.Close()
		return err
	}
	n.stack = s
	nic, err := s.AddNIC(link, nicCfg)
	if err != nil {
		link.Close()
		return err
	}
	n.nic = nic
	p, err := nic.WaitConfigured(ctx)
	if err != nil {
		return fmt.Errorf("netflag: waiting for an address on -net %s: %w", n.Mode(), err)
	}
	if !n.addr.IsValid() {
		n.addr = netip.AddrPortFrom(p.Addr(), n.port)
	}
	return nil
}

// Listen returns a listener for the service port: on the stack (every address), or with
// -net kernel the host listener on -listen, which it hands out once.
func (n *Network) Listen() (net.Listener, error) {
	if n.stack != nil {
		return n.stack.Listen("tcp", fmt.Sprintf(":%d", n.port))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.kernLn == nil {
		return nil, fmt.Errorf("netflag: -net kernel listener already taken or closed")
	}
	ln := n.kernLn
	n.kernLn = nil
	return ln, nil
}

// Addr returns where the service can be reached: the host address forwarded to it (user), the
// host listener's address (kernel), or the stack's own address and the service port (tap,
// socket).
func (n *Network) Addr() netip.AddrPort { return n.addr }

// Mode returns the -net value the network was opened with.
func (n *Network) Mode() string {
	switch n.spec.Kind {
	case TAP, Socket, SocketListen, VhostUser:
		return n.spec.Kind.String() + ":" + n.spec.Path
	case User:
		if n.spec.Driver != "" {
			return "user,nic=" + n.spec.Driver
		}
	}
	return n.spec.Kind.String()
}

// Spec returns the checked flag values.
func (n *Network) Spec() Spec { return n.spec }

// Stack returns the userspace stack, or nil with -net kernel.
func (n *Network) Stack() *netstack.Stack { return n.stack }

// NIC returns the stack's NIC, or nil with -net kernel.
func (n *Network) NIC() *netstack.NIC { return n.nic }

// User returns the user-mode network with -net user, or nil.
func (n *Network) User() *usernet.Network { return n.user }

// Close closes the stack (and with it its link and the capture), the user-mode network, the
// capture file and, with -net kernel, the listener if Listen did not hand it out. It is
// idempotent.
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
		if n.kernLn != nil {
			errs = append(errs, n.kernLn.Close())
			n.kernLn = nil
		}
		n.mu.Unlock()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
