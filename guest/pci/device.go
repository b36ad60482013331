package pci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Device is a PCI function opened for a user-space driver: its configuration space and its
// memory BARs, mapped on demand. Bind it to uio_pci_generic (or another driver that leaves
// its BARs alone) first. It is safe for concurrent use.
type Device struct {
	addr Addr
	dir  string
	cfg  *Config
	res  []Resource

	mu     sync.Mutex
	closed bool                // +checklocks:mu
	bars   [NumBARs]*Window    // +checklocks:mu
	maps   [NumBARs]barMapping // +checklocks:mu
}

// Open opens function a under sysRoot: its configuration space (read-write, which needs
// root) and its resource table.
func Open(sysRoot string, a Addr) (*Device, error) {
	dir := functionDir(sysRoot, a)
	res, err := readSmallFile(filepath.Join(dir, "resource"), maxResourceLines*64)
	if err != nil {
		return nil, err
	}
	rs, err := ParseResources(res)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a, err)
	}
	cfg, err := openConfig(filepath.Join(dir, "config"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a, err)
	}
	return &Device{addr: a, dir: dir, cfg: cfg, res: rs}, nil
}

// Addr returns the function's address.
func (d *Device) Addr() Addr { return d.addr }

// Config returns the function's configuration space.
func (d *Device) Config() *Config { return d.cfg }

// Resource returns the resource line of BAR i (0 to 5).
func (d *Device) Resource(i int) Resource {
	if i < 0 || i >= NumBARs {
		return Resource{}
	}
	return d.res[i]
}

// BAR maps memory BAR i (0 to 5) through its sysfs resourceN file, read-write and shared,
// once; later calls return the same window. The BAR must pass [Resource.Check] against the
// file's size. The mapping lasts until [Device.Close].
func (d *Device) BAR(i int) (*Window, error) {
	if i < 0 || i >= NumBARs {
		return nil, fmt.Errorf("%w: BAR %d", ErrBadDevice, i)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, os.ErrClosed
	}
	if w := d.bars[i]; w != nil {
		return w, nil
	}
	path := filepath.Join(d.dir, "resource"+strconv.Itoa(i))
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s BAR %d: %w", d.addr, i, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadDevice, path)
	}
	if err := d.res[i].Check(fi.Size()); err != nil {
		return nil, fmt.Errorf("%s BAR %d: %w", d.addr, i, err)
	}
	m, err := mapResource(path, d.res[i].Size())
	if err != nil {
		return nil, fmt.Errorf("%s BAR %d: mapping %s: %w", d.addr, i, path, err)
	}
	d.maps[i] = m
	d.bars[i] = NewWindow(m.bytes()[:d.res[i].Size()])
	return d.bars[i], nil
}

// Close unmaps the BARs and closes the configuration space. The windows must no longer be
// used: stop the driver first. Close is idempotent.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for i := range d.maps {
		if d.bars[i] != nil {
			errs = append(errs, d.maps[i].unmap())
			d.bars[i] = nil
		}
	}
	errs = append(errs, d.cfg.Close())
	return errors.Join(errs...)
}
