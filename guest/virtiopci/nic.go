package virtiopci

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/unikit/unikit/guest/dma"
	"github.com/unikit/unikit/guest/kmod"
	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/virtio"
)

// uioDriver is the kernel driver that hands the function to user space.
const uioDriver = "uio_pci_generic"

// DefaultBusyPoll is the driver's busy polling after the last frame received (see
// virtio.NetConfig.BusyPoll) when it waits for interrupts: an INTx interrupt through uio costs
// the kernel's handler, a wake-up of the interrupt goroutine, a read of the ISR and a
// configuration-space write to unmask INTx, each an exit to the hypervisor.
const DefaultBusyPoll = 200 * time.Microsecond

// ErrNoDevice is returned by [Open] when there is no virtio-net function to drive.
var ErrNoDevice = errors.New("virtiopci: no virtio-net PCI function")

// Config configures [Open]. The zero value, like a nil *Config, drives the first virtio-net
// function with interrupts, DMA memory from hugetlbfs at /dev/hugepages and the driver's
// defaults.
type Config struct {
	// Addr is the function to drive, "0000:00:03.0"; empty means the first virtio-net
	// function sysfs lists.
	Addr string
	// Poll, if positive, polls the device this often instead of waiting for interrupts.
	Poll time.Duration
	// Net configures the driver; nil means its defaults. With interrupts, a zero
	// Net.BusyPoll means [DefaultBusyPoll] (a negative one turns busy polling off).
	// Net.CoalesceTxKicks is always set: each notification is a trapped register write.
	Net *virtio.NetConfig
	// Memory configures the DMA memory; nil means its defaults.
	Memory *dma.Config
	// ModuleDir is where uio and uio_pci_generic are loaded from if the driver is not
	// registered yet; empty means kmod.DefaultDir.
	ModuleDir string
	// SysRoot and DevRoot are where sysfs and devtmpfs are mounted; empty means "/sys" and
	// "/dev".
	SysRoot, DevRoot string
	// Logger receives what Open did; nil means slog.Default().
	Logger *slog.Logger
}

// NIC is the virtio-net driver on a PCI function. It implements link.Link through the
// embedded driver; Close stops the interrupt or polling goroutine, resets the device and
// releases the function's mappings and memory.
type NIC struct {
	*virtio.Net

	addr pci.Addr
	log  *slog.Logger
	dev  *pci.Device
	t    *virtio.PCI
	uio  *pci.UIO // nil when polling
	// unmasked is the command register with INTx enabled, as the interrupt goroutine
	// writes it after each interrupt (the uio handler sets only the INTx-disable bit).
	unmasked uint16
	mem      *dma.Memory
	poll     time.Duration

	stop      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ link.Link = (*NIC)(nil)

// Open takes a virtio-net PCI function for the driver: it loads uio_pci_generic if needed,
// binds the function to it, maps the BARs the virtio capabilities name, resets the device,
// enables bus mastering, and initialises the driver ([virtio.NewNet]) on DMA memory from huge
// pages, with interrupts through /dev/uioN or polling. It needs root.
func Open(cfg *Config) (*NIC, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.SysRoot == "" {
		c.SysRoot = "/sys"
	}
	if c.DevRoot == "" {
		c.DevRoot = "/dev"
	}
	if c.ModuleDir == "" {
		c.ModuleDir = kmod.DefaultDir
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	fn, err := choose(c.SysRoot, c.Addr)
	if err != nil {
		return nil, err
	}
	if err := loadUIO(c.SysRoot, c.ModuleDir); err != nil {
		return nil, err
	}
	if err := pci.Bind(c.SysRoot, fn.Addr, uioDriver); err != nil {
		return nil, fmt.Errorf("virtiopci: %w", err)
	}
	n := &NIC{addr: fn.Addr, log: log, poll: c.Poll, stop: make(chan struct{}), exited: make(chan struct{})}
	if err := n.open(&c); err != nil {
		return nil, errors.Join(err, n.release())
	}
	mode := "polling every " + c.Poll.String()
	if n.uio != nil {
		mode = "INTx interrupts through " + filepath.Join(c.DevRoot, n.uio.Name())
	}
	log.Info("virtio-pci: driving NIC", "addr", fn.Addr, "id", fmt.Sprintf("%04x:%04x", fn.Vendor, fn.Device),
		"mac", n.MAC().String(), "mtu", n.MTU(), "features", fmt.Sprintf("%#x", n.NegotiatedFeatures()),
		"mode", mode, "dma", n.mem.Mapped())
	if n.uio != nil {
		go n.interrupts()
	} else {
		go n.polling()
	}
	return n, nil
}

// choose returns the function at addr, or the first virtio-net function.
func choose(sysRoot, addr string) (pci.Function, error) {
	if addr != "" {
		a, err := pci.ParseAddr(addr)
		if err != nil {
			return pci.Function{}, fmt.Errorf("virtiopci: %w", err)
		}
		f, err := pci.ReadFunction(sysRoot, a)
		if err != nil {
			return f, fmt.Errorf("virtiopci: %s: %w", a, err)
		}
		if !IsNet(f) {
			return f, fmt.Errorf("%w: %s is %04x:%04x class %06x", ErrNoDevice, a, f.Vendor, f.Device, f.Class)
		}
		return f, nil
	}
	nets, err := FindNet(sysRoot)
	if err != nil {
		return pci.Function{}, err
	}
	if len(nets) == 0 {
		return pci.Function{}, fmt.Errorf("%w under %s", ErrNoDevice, sysRoot)
	}
	return nets[0], nil
}

// loadUIO loads uio_pci_generic unless its driver is registered already.
func loadUIO(sysRoot, moduleDir string) error {
	_, err := os.Stat(filepath.Join(sysRoot, "bus/pci/drivers", uioDriver))
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := kmod.LoadFrom(moduleDir, uioDriver); err != nil {
		return fmt.Errorf("virtiopci: %w", err)
	}
	return nil
}

// open does the part of Open that has something to undo; release undoes it.
func (n *NIC) open(c *Config) error {
	var err error
	if n.dev, err = pci.Open(c.SysRoot, n.addr); err != nil {
		return fmt.Errorf("virtiopci: %w", err)
	}
	if n.t, err = transport(n.dev, nil); err != nil {
		return fmt.Errorf("virtiopci: %s: %w", n.addr, err)
	}
	// Reset before the device may master the bus: whatever a firmware left running stops.
	n.t.SetStatus(0)
	cfg := n.dev.Config()
	if err := cfg.EnableBusMaster(); err != nil {
		return fmt.Errorf("virtiopci: %s: %w", n.addr, err)
	}
	if n.poll <= 0 {
		if n.uio, err = pci.OpenUIO(c.SysRoot, c.DevRoot, n.addr); err != nil {
			return fmt.Errorf("virtiopci: %w", err)
		}
	}
	if err := cfg.SetINTxMasked(n.uio == nil); err != nil {
		return fmt.Errorf("virtiopci: %s: %w", n.addr, err)
	}
	cmd, err := cfg.Command()
	if err != nil {
		return fmt.Errorf("virtiopci: %s: %w", n.addr, err)
	}
	n.unmasked = cmd &^ pci.CommandINTxDisable
	if n.mem, err = dma.OpenHugepages(c.Memory); err != nil {
		return fmt.Errorf("virtiopci: %w", err)
	}
	var netCfg virtio.NetConfig
	if c.Net != nil {
		netCfg = *c.Net
	}
	if n.uio != nil && netCfg.BusyPoll == 0 {
		netCfg.BusyPoll = DefaultBusyPoll
	}
	netCfg.CoalesceTxKicks = true
	if n.Net, err = virtio.NewNet(n.t, n.mem, &netCfg); err != nil {
		return fmt.Errorf("virtiopci: %s: %w", n.addr, err)
	}
	return nil
}

// interrupts waits on /dev/uioN and hands each interrupt to the driver. The order matters:
// the driver reads the ISR first, which deasserts the line, and only then is INTx unmasked;
// unmasking first would take the same interrupt again. Unmasking writes the command register
// known since Open rather than reading it back first: one configuration access an interrupt,
// not two.
func (n *NIC) interrupts() {
	defer close(n.exited)
	cfg := n.dev.Config()
	for {
		if _, err := n.uio.Wait(); err != nil {
			select {
			case <-n.stop: // closed
			default:
				n.log.Error("virtio-pci: waiting for interrupts failed; the NIC stops receiving", "addr", n.addr, "err", err)
			}
			return
		}
		n.Interrupt()
		if err := cfg.WriteCommand(n.unmasked); err != nil {
			n.log.Error("virtio-pci: cannot unmask INTx; the NIC stops receiving", "addr", n.addr, "err", err)
			return
		}
	}
}

// polling calls the driver's interrupt handler every n.poll.
func (n *NIC) polling() {
	defer close(n.exited)
	t := time.NewTicker(n.poll)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.Interrupt()
		}
	}
}

// Addr returns the PCI address of the function.
func (n *NIC) Addr() pci.Addr { return n.addr }

// Close implements link.Link: it stops interrupt handling, closes the driver (which resets
// the device, so that it no longer touches the DMA memory), masks INTx, and unmaps the BARs
// and the memory. The function stays bound to uio_pci_generic. Close is idempotent.
func (n *NIC) Close() error {
	n.closeOnce.Do(func() {
		close(n.stop)
		if n.uio != nil {
			n.uio.Close() // ends the Wait of the interrupt goroutine
		}
		<-n.exited
		n.closeErr = n.release()
	})
	return n.closeErr
}

// release undoes open, as far as it got.
func (n *NIC) release() error {
	var errs []error
	switch {
	case n.Net != nil:
		errs = append(errs, n.Net.Close())
	case n.t != nil:
		n.t.SetStatus(0) // NewNet failed: the device may hold queue addresses
	}
	if n.uio != nil {
		errs = append(errs, n.uio.Close())
	}
	if n.dev != nil {
		errs = append(errs, n.dev.Config().SetINTxMasked(true), n.dev.Close())
	}
	if n.mem != nil {
		errs = append(errs, n.mem.Close())
	}
	return errors.Join(errs...)
}
