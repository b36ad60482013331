package virtiotest

import (
	"errors"
	"sync/atomic"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/virtio"
)

// TransportKind selects the transport through which a [Loopback]'s driver reaches the device
// model: the driver then uses [virtio.NewMMIO] or [virtio.NewPCI] as its [virtio.Transport].
type TransportKind int

const (
	// TransportMMIO drives the model through its virtio-mmio registers.
	TransportMMIO TransportKind = iota
	// TransportPCI drives the model through its virtio-pci capabilities and BAR.
	TransportPCI
)

// LoopbackConfig configures [NewLoopback]. The zero value uses virtio-mmio and lets driver
// and device negotiate every feature they share.
type LoopbackConfig struct {
	// Transport is how the driver reaches the device model; the zero value is virtio-mmio.
	Transport TransportKind
	// Device configures the device model; nil means the defaults.
	Device *NetConfig
	// Driver configures the driver; nil means the defaults.
	Driver *virtio.NetConfig
	// MemorySize is the size of the shared arena; zero means 8 MiB.
	MemorySize int
}

// Loopback is the virtio-net driver running against the device model, whose wire is a backend
// link. It implements link.Link through the embedded driver; Close closes the driver, the
// device model and the backend.
type Loopback struct {
	*virtio.Net
	// Device is the device model, for fault injection and its counters.
	Device *NetDevice
}

// arenaBase is the device address of the loopback arena: any value works, a recognisable one
// helps when reading descriptors in a debugger.
const arenaBase = 0x4000_0000

// NewLoopbackDevice puts the virtio-net driver, against the in-process device model, in front
// of backend: frames the returned link transmits go through a transmit virtqueue to
// backend.Transmit, frames backend delivers come back through receive virtqueues. It takes
// ownership of backend: closing the returned link closes backend. This is what
// `-net user,nic=virtio` uses, with the user-mode network's guest link as backend.
func NewLoopbackDevice(backend link.Link) (link.Link, error) {
	return NewLoopback(backend, nil)
}

// NewLoopback is [NewLoopbackDevice] with a configuration, returning the driver and device.
func NewLoopback(backend link.Link, cfg *LoopbackConfig) (*Loopback, error) {
	var c LoopbackConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MemorySize == 0 {
		c.MemorySize = 8 << 20
	}
	mem := virtio.NewArena(c.MemorySize, arenaBase)
	dev, err := NewNet(mem, backend, c.Device)
	if err != nil {
		return nil, errors.Join(err, backend.Close())
	}
	var drv atomic.Pointer[virtio.Net]
	dev.SetInterrupt(func() {
		if n := drv.Load(); n != nil {
			n.Interrupt()
		}
	})
	var t virtio.Transport
	switch c.Transport {
	case TransportPCI:
		t, err = virtio.NewPCI(dev.PCIConfig(), dev.BAR)
	default:
		t, err = virtio.NewMMIO(dev.MMIO())
	}
	if err != nil {
		return nil, errors.Join(err, dev.Close())
	}
	n, err := virtio.NewNet(t, mem, c.Driver)
	if err != nil {
		return nil, errors.Join(err, dev.Close())
	}
	drv.Store(n)
	return &Loopback{Net: n, Device: dev}, nil
}

// Close closes the driver (which resets the device), then the device model and the backend.
// It is idempotent.
func (l *Loopback) Close() error {
	l.Net.Close()
	return l.Device.Close()
}
