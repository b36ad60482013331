//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import (
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// device is what the package does with an open /dev/xen file. devFile is the real one; tests
// substitute a model of the driver, so every encoding and code path that does not need a Xen
// host runs without one.
type device interface {
	io.ReadWriteCloser
	// Ioctl performs ioctl(2) with request req and argument arg, and returns its result.
	Ioctl(req uintptr, arg unsafe.Pointer) (int, error)
	// Mmap maps length bytes of the device at offset, shared and read-write.
	Mmap(offset int64, length int) ([]byte, error)
	// Munmap undoes Mmap.
	Munmap(b []byte) error
}

// devFile is a /dev/xen character device. Reads and writes go through os.File, so they use
// the runtime's poller (evtchn and xenbus implement poll) and Close interrupts a blocked Read.
// ioctl and mmap use the descriptor number taken once at open, under mu, so they neither
// allocate nor run after Close.
type devFile struct {
	f  *os.File
	fd uintptr

	mu     sync.RWMutex
	closed bool
}

func openDevice(paths ...string) (*devFile, error) {
	var first error
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		d := &devFile{f: f}
		rc, err := f.SyscallConn()
		if err == nil {
			err = rc.Control(func(fd uintptr) { d.fd = fd })
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrNoDevice, first)
}

func (d *devFile) Read(p []byte) (int, error)  { return d.f.Read(p) }
func (d *devFile) Write(p []byte) (int, error) { return d.f.Write(p) }

func (d *devFile) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return os.ErrClosed
	}
	d.closed = true
	d.mu.Unlock()
	return d.f.Close()
}

func (d *devFile) Ioctl(req uintptr, arg unsafe.Pointer) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, d.fd, req, uintptr(arg))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

func (d *devFile) Mmap(offset int64, length int) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, os.ErrClosed
	}
	return unix.Mmap(int(d.fd), offset, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func (d *devFile) Munmap(b []byte) error { return unix.Munmap(b) }
