package kernelnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/unikit/unikit/guest/kmod"
)

// linkPoll is how often Up looks for the interface while the driver probes the device.
const linkPoll = 20 * time.Millisecond

// Interface is a network interface of Linux's stack that [Up] configured. Its lease is
// renewed in the background until Close.
type Interface struct {
	name string
	// nl is bound to the network namespace Up ran in, so that renewals, which run on other
	// threads, configure the same interface.
	nl     *netlink.Handle
	link   netlink.Link
	client *nclient4.Client
	log    *slog.Logger
	resolv string

	mu    sync.Mutex
	lease Lease
	raw   *nclient4.Lease

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Up loads the driver's modules, brings the loopback and the interface up, leases an address
// by DHCP (retrying until ctx is done), and installs the address, the default route and the
// name servers. It needs root (CAP_NET_ADMIN, CAP_NET_RAW and, for the modules,
// CAP_SYS_MODULE).
func Up(ctx context.Context, cfg *Config) (*Interface, error) {
	c := cfg.withDefaults()
	if len(c.Modules) > 0 {
		if err := kmod.LoadFrom(c.ModuleDir, c.Modules...); err != nil {
			return nil, fmt.Errorf("kernelnet: %w", err)
		}
	}
	// Only rtnetlink: a handle for every family fails on a kernel without xfrm_user loaded,
	// as Debian's is in the initramfs.
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("kernelnet: rtnetlink: %w", err)
	}
	i, err := up(ctx, &c, nl)
	if err != nil {
		nl.Close()
		return nil, err
	}
	l := i.Lease()
	i.log.Info("kernelnet: configured", "interface", i.name, "mac", i.link.Attrs().HardwareAddr.String(),
		"driver", driverOf(i.name), "addr", l.Addr, "gateway", l.Gateway, "dns", l.DNS, "lease", l.Duration)
	go i.renewals()
	return i, nil
}

// up brings the loopback and the interface up and leases and installs an address, through nl.
func up(ctx context.Context, c *Config, nl *netlink.Handle) (*Interface, error) {
	if err := setUp(nl, "lo"); err != nil {
		return nil, err
	}
	link, err := waitLink(ctx, nl, c.Interface)
	if err != nil {
		return nil, err
	}
	name := link.Attrs().Name
	if err := nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("kernelnet: bringing %s up: %w", name, err)
	}
	client, err := nclient4.New(name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return nil, fmt.Errorf("kernelnet: DHCP client on %s: %w", name, err)
	}
	i := &Interface{name: name, nl: nl, link: link, client: client, log: c.Logger, resolv: c.ResolvConf,
		stop: make(chan struct{}), done: make(chan struct{})}
	raw, err := i.request(ctx)
	if err == nil {
		err = i.apply(raw)
	}
	if err != nil {
		client.Close()
		return nil, err
	}
	return i, nil
}

// setUp brings the named interface up.
func setUp(nl *netlink.Handle, name string) error {
	l, err := nl.LinkByName(name)
	if err == nil {
		err = nl.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("kernelnet: bringing %s up: %w", name, err)
	}
	return nil
}

// waitLink returns the named interface, or the first Ethernet one that is not the loopback,
// once the driver has registered it.
func waitLink(ctx context.Context, nl *netlink.Handle, name string) (netlink.Link, error) {
	t := time.NewTicker(linkPoll)
	defer t.Stop()
	for {
		if l := findLink(nl, name); l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			what := "an Ethernet interface"
			if name != "" {
				what = name
			}
			return nil, fmt.Errorf("%w: waited for %s: %w", ErrNoInterface, what, ctx.Err())
		case <-t.C:
		}
	}
}

// findLink returns the named interface or the first Ethernet interface, or nil.
func findLink(nl *netlink.Handle, name string) netlink.Link {
	if name != "" {
		l, err := nl.LinkByName(name)
		if err != nil {
			return nil
		}
		return l
	}
	links, err := nl.LinkList()
	if err != nil {
		return nil
	}
	for _, l := range links {
		a := l.Attrs()
		if a.EncapType == "ether" && a.Flags&net.FlagLoopback == 0 && len(a.HardwareAddr) == 6 {
			return l
		}
	}
	return nil
}

// driverOf names the kernel driver of an interface's device, from sysfs, for the log.
func driverOf(name string) string {
	dst, err := os.Readlink(filepath.Join("/sys/class/net", name, "device/driver"))
	if err != nil {
		return "?"
	}
	return filepath.Base(dst)
}

// request leases an address, trying again until ctx is done.
func (i *Interface) request(ctx context.Context) (*nclient4.Lease, error) {
	for {
		raw, err := i.client.Request(ctx)
		if err == nil {
			return raw, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kernelnet: no DHCP lease on %s: %w", i.name, errors.Join(err, ctx.Err()))
		}
		i.log.Warn("kernelnet: DHCP request failed; trying again", "interface", i.name, "err", err)
	}
}

// apply installs a lease: the address, the default route and the name servers.
func (i *Interface) apply(raw *nclient4.Lease) error {
	l, err := leaseFromACK(raw.ACK)
	if err != nil {
		return err
	}
	i.mu.Lock()
	old := i.lease
	i.mu.Unlock()
	if old.Addr.IsValid() && old.Addr != l.Addr {
		// A new address: the old one goes, with the routes through it.
		_ = i.nl.AddrDel(i.link, &netlink.Addr{IPNet: ipNet(old.Addr)})
	}
	if err := i.nl.AddrReplace(i.link, &netlink.Addr{IPNet: ipNet(l.Addr)}); err != nil {
		return fmt.Errorf("kernelnet: adding %v to %s: %w", l.Addr, i.name, err)
	}
	if l.Gateway.IsValid() {
		route := &netlink.Route{
			LinkIndex: i.link.Attrs().Index,
			Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			Gw:        l.Gateway.AsSlice(),
		}
		if err := i.nl.RouteReplace(route); err != nil {
			return fmt.Errorf("kernelnet: default route via %v on %s: %w", l.Gateway, i.name, err)
		}
	}
	if text := resolvConf(l.DNS); text != "" && i.resolv != "-" {
		if err := os.MkdirAll(filepath.Dir(i.resolv), 0o755); err == nil {
			err = os.WriteFile(i.resolv, []byte(text), 0o644)
		}
		if err != nil {
			i.log.Warn("kernelnet: cannot write the name servers", "file", i.resolv, "err", err)
		}
	}
	i.mu.Lock()
	i.lease, i.raw = l, raw
	i.mu.Unlock()
	return nil
}

// ipNet converts a prefix to the address and mask netlink takes.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// renewals renews the lease at half its duration until Close; a failed renewal is tried again
// after a minute while the lease lasts.
func (i *Interface) renewals() {
	defer close(i.done)
	i.mu.Lock()
	wait := renewAfter(i.lease.Duration)
	i.mu.Unlock()
	for {
		t := time.NewTimer(wait)
		select {
		case <-i.stop:
			t.Stop()
			return
		case <-t.C:
		}
		i.mu.Lock()
		raw, l := i.raw, i.lease
		i.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		fresh, err := i.client.Renew(ctx, raw)
		cancel()
		if err == nil {
			err = i.apply(fresh)
		}
		if err != nil {
			i.log.Warn("kernelnet: renewing the lease failed; trying again in a minute", "interface", i.name,
				"addr", l.Addr, "err", err)
			wait = time.Minute
			continue
		}
		i.mu.Lock()
		wait = renewAfter(i.lease.Duration)
		i.mu.Unlock()
	}
}

// Name returns the interface's name, such as eth0.
func (i *Interface) Name() string { return i.name }

// Lease returns the interface's current lease.
func (i *Interface) Lease() Lease {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.lease
}

// Close stops renewing the lease and closes the DHCP client. The interface keeps its address.
// It is idempotent.
func (i *Interface) Close() error {
	i.closeOnce.Do(func() {
		close(i.stop)
		<-i.done
		i.closeErr = i.client.Close()
		i.nl.Close()
	})
	return i.closeErr
}
