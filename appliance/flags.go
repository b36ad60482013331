package appliance

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strings"

	"github.com/unikit/unikit/guest"
)

// Errors of this package.
var (
	// ErrBadFlag is returned for a flag value that cannot be used.
	ErrBadFlag = errors.New("appliance: invalid flag value")
	// ErrNotAvailable is returned when opening a -net value this module cannot provide yet.
	// Its text has no package prefix: it comes wrapped after "appliance: -net VALUE: ".
	ErrNotAvailable = errors.New("not available yet")
)

// Flags are the values of the network flags, as registered by [Register].
type Flags struct {
	Net    string // -net
	Listen string // -listen
	IP     string // -ip
	GW     string // -gw
	Pcap   string // -pcap
	// TCPBuffers is -tcp-buffers.
	TCPBuffers string

	// Logger, if set, receives the stacks' logs; nil means slog.Default().
	Logger *slog.Logger
	// HostLoopback, set by the application (it is no flag), lets the stack reach the host's
	// loopback services under -net user: a connection to the user-mode network's gateway
	// address goes to the same port on the host's 127.0.0.1 (usernet.Config.HostLoopback).
	HostLoopback bool

	nets  *Nets
	debug *ListenAddr // the debug listener's address, set by App.Run; nil when it is off
}

// Register defines -net, -listen, -ip, -gw and -pcap on fs (nil: flag.CommandLine) and returns
// the values they fill in when fs is parsed. nets are the -net values beyond user and kernel;
// nil means [DefaultNets].
func Register(fs *flag.FlagSet, nets *Nets) *Flags {
	if fs == nil {
		fs = flag.CommandLine
	}
	if nets == nil {
		nets = DefaultNets()
	}
	f := &Flags{nets: nets}
	fs.StringVar(&f.Net, "net", defaultNet(nets), "network: "+nets.valueList())
	fs.StringVar(&f.Listen, "listen", DefaultListen,
		"host addresses of the served ports with -net user (forwarded) or kernel (listened on): "+
			"HOST:PORT[=STACKPORT],..., one per port in order; a port without one gets the first's host and its own number")
	fs.StringVar(&f.IP, "ip", "", "static address of the stack as CIDR, e.g. 10.0.2.15/24 (default: DHCP)")
	fs.StringVar(&f.GW, "gw", "", "default gateway with -ip")
	fs.StringVar(&f.Pcap, "pcap", "", "write every frame of the stack's link to this pcap file")
	fs.StringVar(&f.TCPBuffers, "tcp-buffers", "",
		"what the stack's TCP send buffers may grow to together, and its receive buffers, however slowly "+
			"their peers read: a size such as 32MiB, or off (default: netstack's, 8MiB)")
	return f
}

// Spec is the checked meaning of [Flags].
type Spec struct {
	// Net is the kind of network: "user", "kernel", or the name of a [LinkKind] ("tap").
	Net string
	// Arg is the argument after the colon: the TAP device name, the socket path, ...
	Arg string
	// NIC names the driver put between the stack and the user-mode network with
	// -net user,nic=NAME; empty for the stack attached directly.
	NIC string
	// Listen are the -listen entries (user and kernel only).
	Listen []ListenAddr
	// Prefix is the static address (-ip); invalid for DHCP.
	Prefix netip.Prefix
	// Gateway is -gw; invalid if not given.
	Gateway netip.Addr
	// Pcap is the capture file, or empty.
	Pcap string
	// TCPBuffers is the stack's TCP buffer budget (netstack.Config.TCPBufferBudget): 0 for
	// the default, negative for none.
	TCPBuffers int
}

// Mode returns the -net value the spec stands for, in its canonical form ("user,nic=xen",
// "tap:tap0", "kernel").
func (s *Spec) Mode() string {
	switch {
	case s.NIC != "":
		return s.Net + ",nic=" + s.NIC
	case s.Arg != "":
		return s.Net + ":" + s.Arg
	}
	return s.Net
}

// userspace reports whether the spec has a userspace stack (everything but -net kernel).
func (s *Spec) userspace() bool { return s.Net != "kernel" }

// Parse checks the flag values and returns what they mean, without opening anything.
func (f *Flags) Parse() (Spec, error) {
	if f.nets == nil {
		f.nets = DefaultNets() // a Flags made without Register
	}
	if err := f.nets.check(); err != nil {
		return Spec{}, err
	}
	s, err := f.parseNet()
	if err != nil {
		return s, err
	}
	if s.Net == "user" || s.Net == "kernel" {
		if s.Listen, err = parseListen(f.Listen); err != nil {
			return s, err
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
	switch s.Net {
	case "kernel":
		if s.Prefix.IsValid() || f.Pcap != "" || f.TCPBuffers != "" {
			return s, fmt.Errorf("%w: -ip, -gw, -pcap and -tcp-buffers need a userspace stack, not -net kernel", ErrBadFlag)
		}
	case "user":
		if s.Prefix.IsValid() && !s.Prefix.Addr().Is4() {
			return s, fmt.Errorf("%w: -net user is IPv4 only; -ip %v", ErrBadFlag, s.Prefix)
		}
		if s.Gateway.IsValid() && !s.Prefix.Contains(s.Gateway) {
			return s, fmt.Errorf("%w: -gw %v outside -ip %v, where the user-mode network's gateway lives", ErrBadFlag, s.Gateway, s.Prefix)
		}
	}
	s.Pcap = f.Pcap
	switch f.TCPBuffers {
	case "":
	case "off":
		s.TCPBuffers = -1
	default:
		n, err := parseSize(f.TCPBuffers)
		if err != nil || n > math.MaxInt32 {
			return s, fmt.Errorf("%w: -tcp-buffers %q: want a size such as 32MiB, or off", ErrBadFlag, f.TCPBuffers)
		}
		s.TCPBuffers = int(n)
	}
	return s, nil
}

// parseNet parses -net into the spec's Net, Arg and NIC.
func (f *Flags) parseNet() (Spec, error) {
	v := f.Net
	if v == "user" || v == "kernel" {
		return Spec{Net: v}, nil
	}
	if opt, ok := strings.CutPrefix(v, "user,"); ok {
		name, ok := strings.CutPrefix(opt, "nic=")
		if !ok || f.nets.nic(name) == nil {
			return Spec{}, fmt.Errorf("%w: -net %q: unknown user option %q (%s)", ErrBadFlag, v, opt, f.nets.nicList())
		}
		return Spec{Net: "user", NIC: name}, nil
	}
	name, arg, hasArg := strings.Cut(v, ":")
	k := f.nets.link(name)
	if k == nil {
		return Spec{}, fmt.Errorf("%w: -net %q: want %s", ErrBadFlag, v, f.nets.valueList())
	}
	switch {
	case k.Arg == "" && hasArg:
		return Spec{}, fmt.Errorf("%w: -net %q: %s takes no argument", ErrBadFlag, v, k.Name)
	case k.Arg != "" && arg == "" && !(k.ArgOptional && !hasArg):
		return Spec{}, fmt.Errorf("%w: -net %q: missing %s (-net %s)", ErrBadFlag, v, k.Arg, k.usage())
	}
	if arg != "" && k.Check != nil {
		if err := k.Check(arg); err != nil {
			return Spec{}, fmt.Errorf("%w: -net %q: %v", ErrBadFlag, v, err)
		}
	}
	return Spec{Net: name, Arg: arg}, nil
}

// defaultNet is the default of -net: "user" hosted; inside a Xen domain ([guest.InXen])
// netfront on vif-0, when nets has xen; inside another VM ([guest.InGuest]) the first
// virtio-net PCI device, when nets has virtio-pci.
func defaultNet(nets *Nets) string {
	if guest.InXen() && nets.link("xen") != nil {
		return "xen"
	}
	if guest.InGuest() && nets.link("virtio-pci") != nil {
		return "virtio-pci"
	}
	return "user"
}
