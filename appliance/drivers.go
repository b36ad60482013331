package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/unikit/unikit/guest/virtiopci"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/socket"
	"github.com/unikit/unikit/netstack/link/tap"
	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
	"github.com/unikit/unikit/xenfront/linuxdom"
	"github.com/unikit/unikit/xenfront/netfront"
	"github.com/unikit/unikit/xenfront/xentest"
)

// DefaultNets returns the -net values of this module's links and drivers, in the order the
// usage lists them:
//
//	tap:NAME[,create]    a Linux TAP device with offloads (netstack/link/tap); it must exist
//	                     unless ",create" is given
//	socket:PATH          QEMU stream protocol, connecting to a UNIX socket (netstack/link/socket)
//	socket-listen:PATH   the same, listening at PATH
//	vhost-user:PATH      the virtio driver as a vhost-user frontend (virtio)
//	virtio-pci[:BDF]     the virtio driver on a VM's virtio-net PCI device (default in a guest)
//	xen[:vif-N]          netfront on this Xen domain's vif through /dev/xen (xenfront; default
//	                     in a Xen domain)
//
// and the NIC drivers of -net user,nic=NAME: virtio (against virtio/virtiotest's device model)
// and xen (netfront against xenfront/xentest's simulated hypervisor and netback).
func DefaultNets() *Nets {
	return &Nets{
		Links: []LinkKind{
			{Name: "tap", Arg: "NAME[,create]", Check: checkTAPName, Open: openTAP},
			{Name: "socket", Arg: "PATH", Open: dialSocket},
			{Name: "socket-listen", Arg: "PATH", Open: listenSocket},
			{Name: "vhost-user", Arg: "PATH", Open: dialVhostUser},
			{Name: "virtio-pci", Arg: "BDF", ArgOptional: true, Check: checkBDF, Open: openVirtioPCI},
			{Name: "xen", Arg: "vif-N", ArgOptional: true, Check: checkVif, Open: openXen},
		},
		NICs: []NICKind{
			// The virtio-net driver over split virtqueues against the in-process device model.
			{Name: "virtio", Attach: virtiotest.NewLoopbackDevice},
			// netfront over a simulated hypervisor and netback: grant tables, event channels,
			// the xenstore handshake and shared rings.
			{Name: "xen", Attach: xentest.NewLoopback},
		},
	}
}

// tapCreate is the option of -net tap:NAME,create: create the TAP device if it does not exist.
const tapCreate = ",create"

// checkTAPName accepts the argument of -net tap: a Linux interface name of 1 to 15 bytes
// (IFNAMSIZ less the NUL) without '/', ':', ',' or white space, optionally followed by
// ",create".
func checkTAPName(arg string) error {
	name, _ := strings.CutSuffix(arg, tapCreate)
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/:, \t\n") {
		return errors.New("want tap:NAME or tap:NAME,create, with a device name of 1 to 15 characters without '/', ':', ',' or spaces")
	}
	return nil
}

// openTAP opens the TAP device named by arg. It refuses a device that does not exist unless
// arg ends in ",create": a TAP device created here has nothing behind it, no DHCP server and
// no address on the host's side, until someone configures it, and it goes away when the
// appliance exits.
func openTAP(_ context.Context, arg string, _ *slog.Logger) (link.Link, error) {
	name, create := strings.CutSuffix(arg, tapCreate)
	if !create && runtime.GOOS == "linux" && !interfaceExists(name) {
		return nil, fmt.Errorf("no network device %q in this network namespace: create the TAP device first "+
			"(ip tuntap add dev %s mode tap vnet_hdr) and connect it (a bridge, a DHCP server, or an address "+
			"on its host side), or use -net tap:%s%s for one that exists only while the appliance runs",
			name, name, name, tapCreate)
	}
	l, err := tap.Open(name, nil)
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("%w (a TAP device needs root or CAP_NET_ADMIN, unless it is a persistent one "+
			"this user owns: ip tuntap add dev %s mode tap vnet_hdr user NAME)", err, name)
	}
	return l, err
}

// interfaceExists reports whether the calling thread's network namespace has an interface
// named name. It answers true when the interfaces cannot be listed, leaving the verdict to
// opening the device.
func interfaceExists(name string) bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return true
	}
	for _, i := range ifs {
		if i.Name == name {
			return true
		}
	}
	return false
}

func dialSocket(ctx context.Context, path string, log *slog.Logger) (link.Link, error) {
	return socket.Dial(ctx, "unix", path, &socket.Config{Logger: log})
}

func listenSocket(_ context.Context, path string, log *slog.Logger) (link.Link, error) {
	return socket.Listen("unix", path, &socket.Config{Logger: log})
}

func dialVhostUser(_ context.Context, path string, _ *slog.Logger) (link.Link, error) {
	return virtio.DialVhostUser(path, nil)
}

// checkBDF accepts a PCI address as lspci prints it: [DOMAIN:]BUS:DEVICE.FUNCTION in hex, with
// a device below 32 and a function below 8.
func checkBDF(bdf string) error {
	bad := fmt.Errorf("%q is not a PCI address [DOMAIN:]BUS:DEVICE.FUNCTION, e.g. 0000:00:03.0", bdf)
	parts := strings.Split(bdf, ":")
	if len(parts) == 3 {
		if _, err := strconv.ParseUint(parts[0], 16, 16); err != nil || len(parts[0]) != 4 {
			return bad
		}
		parts = parts[1:]
	}
	if len(parts) != 2 {
		return bad
	}
	dev, fn, ok := strings.Cut(parts[1], ".")
	_, errB := strconv.ParseUint(parts[0], 16, 8)
	d, errD := strconv.ParseUint(dev, 16, 8)
	f, errF := strconv.ParseUint(fn, 16, 8)
	if !ok || len(parts[0]) != 2 || len(dev) != 2 || len(fn) != 1 || errB != nil || errD != nil || errF != nil || d >= 32 || f >= 8 {
		return bad
	}
	return nil
}

// openVirtioPCI opens our virtio-net driver on a virtio-net PCI function of the VM the
// appliance runs in (package guest/virtiopci): the function at bdf, or the first one sysfs
// lists when bdf is empty. It needs the guest runtime's mounts and root.
func openVirtioPCI(_ context.Context, bdf string, log *slog.Logger) (link.Link, error) {
	nic, err := virtiopci.Open(&virtiopci.Config{Addr: bdf, Logger: log})
	if err != nil {
		return nil, err
	}
	return nic, nil
}

// checkVif accepts vif-N, the N-th network device of the domain (device/vif/N in xenstore).
func checkVif(vif string) error {
	n, ok := strings.CutPrefix(vif, "vif-")
	if _, err := strconv.ParseUint(n, 10, 16); !ok || err != nil {
		return fmt.Errorf("%q is not a Xen network device vif-N, e.g. vif-0", vif)
	}
	return nil
}

// openXen opens this Linux domain's Xen devices (/dev/xen/gntalloc, evtchn and xenbus) and
// connects netfront to the back end of the vif (vif-0 if none is named). The returned link
// closes the devices after netfront.
func openXen(ctx context.Context, vif string, log *slog.Logger) (link.Link, error) {
	if vif == "" {
		vif = "vif-0"
	}
	dom, err := linuxdom.Open()
	if err != nil {
		return nil, fmt.Errorf("opening this domain's Xen devices (run in a Xen domain, as root): %w", err)
	}
	l, err := netfront.Open(ctx, &netfront.Config{
		Grants: dom.Grants, Events: dom.Events, Store: dom.Store,
		Dir:    "device/vif/" + strings.TrimPrefix(vif, "vif-"),
		Logger: log,
	})
	if err != nil {
		dom.Close()
		return nil, err
	}
	return &domainLink{Link: l, dom: dom}, nil
}

// domainLink is a netfront link that also owns the domain devices it runs on.
type domainLink struct {
	link.Link
	dom *linuxdom.Domain
}

// Close closes the link and then the devices. It is idempotent, as both closes are.
func (l *domainLink) Close() error { return errors.Join(l.Link.Close(), l.dom.Close()) }
