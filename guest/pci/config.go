package pci

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
)

// Offsets and bits of the PCI configuration header (PCI Local Bus 3.0, section 6.2).
const (
	ConfigCommand = 0x04
	ConfigStatus  = 0x06

	CommandIO          = 1 << 0  // respond to I/O space accesses
	CommandMemory      = 1 << 1  // respond to memory space accesses
	CommandBusMaster   = 1 << 2  // the function may issue DMA
	CommandINTxDisable = 1 << 10 // the function may not assert INTx

	StatusInterrupt = 1 << 3 // INTx is pending
)

// minConfigSize is the configuration space a driver needs: the 64-byte header and the
// capability area up to 0xff (root reads 256 bytes, or 4096 for PCI Express).
const minConfigSize = 256

// maxConfigSize is the PCI Express extended configuration space.
const maxConfigSize = 4096

// Config is a function's configuration space through its sysfs "config" file. It implements
// the Read/Write methods of virtio.Registers: accesses are little-endian, of the width named,
// and an access outside the space reads as all ones and writes nothing. It is safe for
// concurrent use.
type Config struct {
	size uint32

	mu  sync.Mutex
	f   *os.File // +checklocks:mu
	buf [4]byte  // +checklocks:mu
}

// openConfig opens the config file at path read-write and checks that it holds at least the
// 256 bytes of conventional configuration space (it holds 64 for a reader without
// CAP_SYS_ADMIN).
func openConfig(path string) (*Config, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() < minConfigSize {
		f.Close()
		return nil, fmt.Errorf("%w: %s has %d bytes, want at least %d (reading as root?)",
			ErrBadDevice, path, fi.Size(), minConfigSize)
	}
	return &Config{f: f, size: uint32(min(fi.Size(), maxConfigSize))}, nil
}

// Size returns the number of bytes of configuration space available.
func (c *Config) Size() uint32 { return c.size }

func (c *Config) inside(off uint32, n int) bool { return uint64(off)+uint64(n) <= uint64(c.size) }

// read reads n bytes at off into c.buf; false if they are outside or unreadable.
// +checklocks:c.mu
func (c *Config) read(off uint32, n int) bool {
	if !c.inside(off, n) || c.f == nil {
		return false
	}
	k, err := c.f.ReadAt(c.buf[:n], int64(off))
	return err == nil && k == n
}

// write writes the first n bytes of c.buf at off.
// +checklocks:c.mu
func (c *Config) write(off uint32, n int) error {
	if !c.inside(off, n) {
		return fmt.Errorf("pci: config write of %d bytes at %#x outside %#x bytes", n, off, c.size)
	}
	if c.f == nil {
		return os.ErrClosed
	}
	_, err := c.f.WriteAt(c.buf[:n], int64(off))
	return err
}

// Read8 reads the byte at off, 0xff if it cannot be read.
func (c *Config) Read8(off uint32) uint8 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read(off, 1) {
		return 0xff
	}
	return c.buf[0]
}

// Read16 reads the 16-bit value at off, 0xffff if it cannot be read.
func (c *Config) Read16(off uint32) uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read(off, 2) {
		return 0xffff
	}
	return binary.LittleEndian.Uint16(c.buf[:])
}

// Read32 reads the 32-bit value at off, 0xffffffff if it cannot be read.
func (c *Config) Read32(off uint32) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read(off, 4) {
		return 0xffffffff
	}
	return binary.LittleEndian.Uint32(c.buf[:])
}

// Write8 writes the byte v at off; failures are ignored, as virtio.Registers has no error.
func (c *Config) Write8(off uint32, v uint8) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf[0] = v
	_ = c.write(off, 1)
}

// Write16 writes v at off; failures are ignored.
func (c *Config) Write16(off uint32, v uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	binary.LittleEndian.PutUint16(c.buf[:], v)
	_ = c.write(off, 2)
}

// Write32 writes v at off; failures are ignored.
func (c *Config) Write32(off uint32, v uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	binary.LittleEndian.PutUint32(c.buf[:], v)
	_ = c.write(off, 4)
}

// Command reads the command register.
func (c *Config) Command() (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read(ConfigCommand, 2) {
		return 0, fmt.Errorf("pci: reading the command register failed")
	}
	return binary.LittleEndian.Uint16(c.buf[:]), nil
}

// UpdateCommand sets the bits set and clears the bits clear of the command register, and
// returns its new value as read back: a device may refuse a bit.
func (c *Config) UpdateCommand(set, clear uint16) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read(ConfigCommand, 2) {
		return 0, fmt.Errorf("pci: reading the command register failed")
	}
	cmd := binary.LittleEndian.Uint16(c.buf[:])&^clear | set
	binary.LittleEndian.PutUint16(c.buf[:], cmd)
	if err := c.write(ConfigCommand, 2); err != nil {
		return 0, fmt.Errorf("pci: writing the command register: %w", err)
	}
	if !c.read(ConfigCommand, 2) {
		return 0, fmt.Errorf("pci: reading the command register failed")
	}
	return binary.LittleEndian.Uint16(c.buf[:]), nil
}

// EnableBusMaster sets memory space access and bus mastering, which uio_pci_generic leaves
// off, so that the device can reach its DMA memory. It fails if the bits do not stick.
func (c *Config) EnableBusMaster() error {
	want := uint16(CommandMemory | CommandBusMaster)
	cmd, err := c.UpdateCommand(want, 0)
	if err != nil {
		return err
	}
	if cmd&want != want {
		return fmt.Errorf("%w: command register reads %#04x after enabling bus mastering", ErrBadDevice, cmd)
	}
	return nil
}

// SetINTxMasked sets or clears the command register's INTx-disable bit:
// uio_pci_generic sets it in its interrupt handler, and the driver clears it once it has read
// the device's interrupt status. It does not allocate.
//
// The read-modify-write is of the whole 16-bit register at offset 4, as the kernel's own
// handler does, not of the register's upper byte at offset 5 as the uio documentation and
// DPDK do: QEMU (7.2) re-evaluates a function's INTx line only for configuration writes that
// cover byte 4, so a one-byte write at offset 5 changes the bit without delivering an
// interrupt that is pending, and its INTx accounting then drifts until the line is stuck.
func (c *Config) SetINTxMasked(masked bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read(ConfigCommand, 2) {
		return fmt.Errorf("pci: reading the command register failed")
	}
	cmd := binary.LittleEndian.Uint16(c.buf[:])
	if masked {
		cmd |= CommandINTxDisable
	} else {
		cmd &^= CommandINTxDisable
	}
	binary.LittleEndian.PutUint16(c.buf[:], cmd)
	return c.write(ConfigCommand, 2)
}

// WriteCommand writes cmd to the whole 16-bit command register (see [Config.SetINTxMasked] on
// why the whole register) without reading it first. An interrupt handler that knows the
// register's value uses it to unmask INTx with one configuration access instead of two; each
// is a system call and, in a virtual machine, two port accesses that exit to the hypervisor.
// It does not allocate.
func (c *Config) WriteCommand(cmd uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	binary.LittleEndian.PutUint16(c.buf[:], cmd)
	return c.write(ConfigCommand, 2)
}

// Close closes the config file; accesses afterwards read all ones and write nothing.
func (c *Config) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
