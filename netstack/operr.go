package netstack

import (
	"context"
	"errors"
	"io"
	"net"
	"os"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// sysError is the error a kernel socket's system call named call would return where the
// endpoint returned terr: errno(terr) in an *os.SyscallError. io.EOF is returned unwrapped.
// The package documentation describes the shapes of the connections' errors.
func sysError(call string, terr tcpip.Error) error {
	err := errno(terr)
	if err == nil || err == io.EOF {
		return err
	}
	return os.NewSyscallError(call, err)
}

// opError wraps err in a *net.OpError for an operation that has no connection yet (parsing
// the address of Listen or Dial, say), naming the address as the caller gave it. An error
// that already is a *net.OpError is returned as it is.
func opError(op, network, address string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: network, Addr: stringAddr{network, address}, Err: err}
}

// stringAddr is a net.Addr for error messages.
type stringAddr struct{ net, addr string }

func (a stringAddr) Network() string { return a.net }
func (a stringAddr) String() string  { return a.addr }

// netAddr returns a as a net.Addr, nil (not an interface holding a nil pointer) when a is nil,
// so that a *net.OpError prints without it.
func netAddr[A *net.TCPAddr | *net.UDPAddr](a A) net.Addr {
	if a == nil {
		return nil
	}
	return net.Addr(a)
}

// contextError is a context's error as package net's Dialer reports it: the same message
// ("operation was canceled", "i/o timeout"), Timeout true for a deadline, and errors.Is
// matching context.Canceled or context.DeadlineExceeded.
type contextError struct{ err error }

func (e contextError) Error() string {
	if e.Timeout() {
		return "i/o timeout"
	}
	return "operation was canceled"
}

func (e contextError) Unwrap() error   { return e.err }
func (e contextError) Timeout() bool   { return errors.Is(e.err, context.DeadlineExceeded) }
func (e contextError) Temporary() bool { return e.Timeout() }
