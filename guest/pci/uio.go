package pci

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// UIO is the interrupt channel of a function bound to uio_pci_generic: its /dev/uioN.
//
// uio_pci_generic handles the function's INTx line in the kernel: when the function's status
// says it interrupted, the handler sets the command register's INTx-disable bit and counts
// the event. [UIO.Wait] returns once the count has moved. The driver then reads the device's
// own interrupt status (for virtio, the ISR byte, which deasserts the line), does its work and
// unmasks INTx with [Config.SetINTxMasked]; unmasking before the status is read re-raises
// the interrupt at once.
type UIO struct {
	name string
	f    *os.File
	buf  [4]byte
}

// OpenUIO opens the uio device of function a, found as sysRoot's
// bus/pci/devices/ADDR/uio/uioN and opened as devRoot/uioN (devRoot is normally "/dev").
func OpenUIO(sysRoot, devRoot string, a Addr) (*UIO, error) {
	entries, err := os.ReadDir(filepath.Join(functionDir(sysRoot, a), "uio"))
	if err != nil {
		return nil, fmt.Errorf("pci: %s has no uio device (bound to uio_pci_generic?): %w", a, err)
	}
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "uio")
		if _, ok2 := parseDecimal(n); !ok || !ok2 {
			continue
		}
		// On Linux the character device works with the runtime's poller (uio implements
		// poll), so Close wakes a blocked Wait.
		f, err := os.OpenFile(filepath.Join(devRoot, e.Name()), os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		return &UIO{name: e.Name(), f: f}, nil
	}
	return nil, fmt.Errorf("pci: %s has no uio device", a)
}

// parseDecimal parses up to 9 decimal digits.
func parseDecimal(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Wait blocks until the function has interrupted since the last Wait (or since Open) and
// returns the total number of interrupts so far; a jump of more than one means several came
// before the driver looked. It returns an error once the UIO is closed. Wait does not
// allocate; it is meant for one goroutine.
func (u *UIO) Wait() (uint32, error) {
	n, err := u.f.Read(u.buf[:]) // uio wants reads of exactly 4 bytes
	if err != nil {
		return 0, err
	}
	if n != len(u.buf) {
		return 0, io.ErrUnexpectedEOF
	}
	return binary.NativeEndian.Uint32(u.buf[:]), nil
}

// Name returns the uio device's name, "uio0".
func (u *UIO) Name() string { return u.name }

// Close closes the device, which ends a Wait in progress. It is idempotent.
func (u *UIO) Close() error {
	if err := u.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
