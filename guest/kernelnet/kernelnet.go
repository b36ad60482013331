package kernelnet

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/unikit/unikit/guest/kmod"
)

// ErrNoInterface is returned by [Up] when no Ethernet interface appeared before its context
// was done.
var ErrNoInterface = errors.New("kernelnet: no Ethernet interface")

// DefaultModules are the modules [Up] loads when Config.Modules is nil: Linux's virtio-net
// driver on the PCI transport. Their dependencies (virtio, virtio_ring, the modern and legacy
// PCI helpers, net_failover) come along.
func DefaultModules() []string { return []string{"virtio_pci", "virtio_net"} }

// DefaultResolvConf is where [Up] writes the lease's DNS servers.
const DefaultResolvConf = "/etc/resolv.conf"

// Config configures [Up]. The zero value, like a nil *Config, loads [DefaultModules] from
// kmod.DefaultDir and configures the first Ethernet interface.
type Config struct {
	// Modules are loaded, with their dependencies, before the interface is looked for; nil
	// means DefaultModules, an empty non-nil slice none (a kernel with the driver built in).
	Modules []string
	// ModuleDir is where the modules are; empty means kmod.DefaultDir.
	ModuleDir string
	// Interface names the interface to configure; empty means the first Ethernet interface
	// that is not the loopback.
	Interface string
	// ResolvConf is the file the DNS servers are written to; empty means DefaultResolvConf,
	// "-" not to write one.
	ResolvConf string
	// Logger receives what Up did and the renewals; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.Modules == nil {
		d.Modules = DefaultModules()
	}
	if d.ModuleDir == "" {
		d.ModuleDir = kmod.DefaultDir
	}
	if d.ResolvConf == "" {
		d.ResolvConf = DefaultResolvConf
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

// Lease is the configuration a DHCP server gave the interface.
type Lease struct {
	// Addr is the interface's address and the subnet's prefix length.
	Addr netip.Prefix
	// Gateway is the default router; invalid if the server named none.
	Gateway netip.Addr
	// DNS are the name servers.
	DNS []netip.Addr
	// Server is the DHCP server that granted the lease.
	Server netip.Addr
	// Duration is how long the lease lasts from when it was granted.
	Duration time.Duration
}

// renewAfter is when a lease of duration d is renewed: at T1, half its duration (RFC 2131
// section 4.4.5), and not sooner than a minute.
func renewAfter(d time.Duration) time.Duration { return max(d/2, time.Minute) }
