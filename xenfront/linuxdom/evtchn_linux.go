//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"github.com/unikit/unikit/xenfront"
)

// EventChannels is xenfront.EventChannels on /dev/xen/evtchn. Binding uses
// IOCTL_EVTCHN_BIND_UNBOUND_PORT and IOCTL_EVTCHN_BIND_INTERDOMAIN (the ioctl's result is the
// local port), Notify IOCTL_EVTCHN_NOTIFY and Close IOCTL_EVTCHN_UNBIND.
//
// One goroutine reads the device: each read returns the 4-byte numbers of ports that fired.
// The kernel masks a port when it queues it; the goroutine latches the event for the port's
// waiter and writes the numbers back at once, which unmasks them. Events coalesce as the
// interface allows. If the kernel's queue overflowed (the read fails with EFBIG), the goroutine
// resets it with IOCTL_EVTCHN_RESET, wakes every waiter (a spurious wake-up is harmless: a
// waiter processes whatever is pending) and unmasks every bound port.
type EventChannels struct {
	dev device

	mu    sync.Mutex // guards ports; held across a bind so an event cannot beat its port's entry
	ports map[xenfront.Port]*evport
	err   error // why the reader stopped, once it has

	notifyMu  sync.Mutex
	notifyArg *evtchnPortArg // preallocated: Notify does not allocate

	closeOnce sync.Once
	done      chan struct{}
}

type evport struct {
	ev     chan struct{} // capacity 1: a latched event
	closed chan struct{}
}

var _ xenfront.EventChannels = (*EventChannels)(nil)

// OpenEventChannels opens /dev/xen/evtchn and starts the goroutine that reads it; Close ends
// it.
func OpenEventChannels() (*EventChannels, error) {
	d, err := openDevice("/dev/xen/evtchn")
	if err != nil {
		return nil, err
	}
	return newEventChannels(d), nil
}

func newEventChannels(d device) *EventChannels {
	e := &EventChannels{dev: d, ports: map[xenfront.Port]*evport{}, notifyArg: new(evtchnPortArg),
		done: make(chan struct{})}
	go e.readLoop()
	return e
}

func (e *EventChannels) bind(req uintptr, arg unsafe.Pointer, what string) (xenfront.Port, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return 0, e.err
	}
	rc, err := e.dev.Ioctl(req, arg)
	if err != nil {
		return 0, fmt.Errorf("linuxdom: %s: %w", what, err)
	}
	p := xenfront.Port(rc)
	if rc < 0 || e.ports[p] != nil {
		return 0, fmt.Errorf("%w: %s returned port %d", ErrDevice, what, rc)
	}
	e.ports[p] = &evport{ev: make(chan struct{}, 1), closed: make(chan struct{})}
	return p, nil
}

// AllocUnbound implements xenfront.EventChannels.
func (e *EventChannels) AllocUnbound(remote xenfront.DomID) (xenfront.Port, error) {
	a := evtchnPortArg{V: uint32(remote)}
	return e.bind(ioctlEvtchnBindUnboundPort, unsafe.Pointer(&a), "IOCTL_EVTCHN_BIND_UNBOUND_PORT")
}

// BindInterdomain implements xenfront.EventChannels.
func (e *EventChannels) BindInterdomain(remote xenfront.DomID, remotePort xenfront.Port) (xenfront.Port, error) {
	a := bindInterdomain{RemoteDomain: uint32(remote), RemotePort: uint32(remotePort)}
	return e.bind(ioctlEvtchnBindInterdomain, unsafe.Pointer(&a), "IOCTL_EVTCHN_BIND_INTERDOMAIN")
}

// Notify implements xenfront.EventChannels. It does not allocate.
func (e *EventChannels) Notify(port xenfront.Port) error {
	e.mu.Lock()
	p := e.ports[port]
	e.mu.Unlock()
	if p == nil {
		return xenfront.ErrPortClosed
	}
	e.notifyMu.Lock()
	e.notifyArg.V = uint32(port)
	_, err := e.dev.Ioctl(ioctlEvtchnNotify, unsafe.Pointer(e.notifyArg))
	e.notifyMu.Unlock()
	if errors.Is(err, syscall.ENOTCONN) {
		return xenfront.ErrPortClosed
	}
	if err != nil {
		return fmt.Errorf("linuxdom: IOCTL_EVTCHN_NOTIFY: %w", err)
	}
	return nil
}

// Wait implements xenfront.EventChannels. It does not allocate.
func (e *EventChannels) Wait(ctx context.Context, port xenfront.Port) error {
	e.mu.Lock()
	p := e.ports[port]
	e.mu.Unlock()
	if p == nil {
		return xenfront.ErrPortClosed
	}
	select {
	case <-p.ev:
		return nil
	case <-p.closed:
		return xenfront.ErrPortClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close implements xenfront.EventChannels: it unbinds port; its waiters return ErrPortClosed.
func (e *EventChannels) Close(port xenfront.Port) error {
	e.mu.Lock()
	p := e.ports[port]
	delete(e.ports, port)
	e.mu.Unlock()
	if p == nil {
		return xenfront.ErrPortClosed
	}
	close(p.closed)
	a := evtchnPortArg{V: uint32(port)}
	if _, err := e.dev.Ioctl(ioctlEvtchnUnbind, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("linuxdom: IOCTL_EVTCHN_UNBIND %d: %w", port, err)
	}
	return nil
}

// readLoop reads fired ports until the device fails or is closed.
func (e *EventChannels) readLoop() {
	defer close(e.done)
	buf := make([]byte, 4*256)
	for {
		n, err := e.dev.Read(buf)
		if errors.Is(err, syscall.EFBIG) {
			if err = e.overflow(buf); err == nil {
				continue
			}
		}
		if err != nil {
			e.stop(err)
			return
		}
		n = e.dispatch(buf[:n])
		if n > 0 {
			if _, err := e.dev.Write(buf[:n]); err != nil {
				e.stop(err)
				return
			}
		}
	}
}

// dispatch latches an event for each complete 4-byte port number in b (the device returns
// whole ones; a trailing fragment is ignored) and returns the length of the numbers to write
// back. It does not allocate.
func (e *EventChannels) dispatch(b []byte) int {
	n := len(b) &^ 3
	e.mu.Lock()
	for i := 0; i < n; i += 4 {
		if p := e.ports[xenfront.Port(binary.NativeEndian.Uint32(b[i:]))]; p != nil {
			select {
			case p.ev <- struct{}{}:
			default: // coalesced with an event not yet waited for
			}
		}
	}
	e.mu.Unlock()
	return n
}

// overflow recovers from a full kernel queue: reset it, wake everybody, unmask every port.
func (e *EventChannels) overflow(buf []byte) error {
	if _, err := e.dev.Ioctl(ioctlEvtchnReset, nil); err != nil {
		return fmt.Errorf("linuxdom: IOCTL_EVTCHN_RESET: %w", err)
	}
	e.mu.Lock()
	b := buf[:0]
	for port, p := range e.ports {
		select {
		case p.ev <- struct{}{}:
		default:
		}
		if len(b)+4 > cap(b) {
			if _, err := e.dev.Write(b); err != nil {
				e.mu.Unlock()
				return err
			}
			b = b[:0]
		}
		b = binary.NativeEndian.AppendUint32(b, uint32(port))
	}
	e.mu.Unlock()
	if len(b) > 0 {
		if _, err := e.dev.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// stop records why the reader ended and ends every port's waiters.
func (e *EventChannels) stop(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.err = fmt.Errorf("%w: %w", xenfront.ErrClosed, err)
	for port, p := range e.ports {
		close(p.closed)
		delete(e.ports, port)
	}
}

// CloseAll closes the device, which unbinds every port, and ends the reading goroutine; waiters
// return ErrPortClosed. It is idempotent. (Close, with a port, is the interface's method.)
func (e *EventChannels) CloseAll() error {
	var err error
	e.closeOnce.Do(func() {
		err = e.dev.Close()
		<-e.done
	})
	return err
}
