package netstack

import (
	"net"
	"os"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TCPListener is a TCP listener of the stack, the counterpart of *net.TCPListener. Its
// Accept blocks until a connection is established, its deadline passes (an error wrapping
// os.ErrDeadlineExceeded) or it is closed (an error wrapping net.ErrClosed).
type TCPListener struct {
	ep     tcpip.Endpoint
	wq     *waiter.Queue
	net    string
	addr   *net.TCPAddr
	budget *tcpBudget // the stack's, for the accepted connections

	closed atomic.Bool
	acc    side
}

var _ net.Listener = (*TCPListener)(nil)

// acceptEvents wake a blocked Accept: a connection is ready, or the endpoint failed.
const acceptEvents = waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr

func newTCPListener(network string, wq *waiter.Queue, ep tcpip.Endpoint, budget *tcpBudget) *TCPListener {
	l := &TCPListener{ep: ep, wq: wq, net: network, addr: localTCPAddr(ep), budget: budget}
	l.acc.init(wq, acceptEvents)
	return l
}

// Accept waits for the next connection and returns it, a *TCPConn.
func (l *TCPListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP waits for the next connection and returns it.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	l.acc.mu.Lock()
	defer l.acc.mu.Unlock()
	for {
		if l.closed.Load() {
			return nil, l.opError("accept", net.ErrClosed)
		}
		if l.acc.deadline.expired.Load() {
			return nil, l.opError("accept", os.ErrDeadlineExceeded)
		}
		ep, wq, terr := l.ep.Accept(nil)
		if terr == nil {
			return newTCPConn(l.net, wq, ep, l.budget), nil
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			if l.closed.Load() {
				return nil, l.opError("accept", net.ErrClosed)
			}
			return nil, l.opError("accept", sysError("accept", terr))
		}
		<-l.acc.wake
	}
}

// Close stops listening: connections not yet accepted are reset, and a blocked Accept
// returns an error wrapping net.ErrClosed. Closing a closed listener returns such an error
// too, as *net.TCPListener does.
func (l *TCPListener) Close() error {
	if l.closed.Swap(true) {
		return l.opError("close", net.ErrClosed)
	}
	l.acc.close(l.wq)
	l.ep.Close()
	return nil
}

// Addr returns the listener's address, a *net.TCPAddr.
func (l *TCPListener) Addr() net.Addr { return netAddr(l.addr) }

// SetDeadline sets the deadline of Accept, a pending one included; the zero time removes it.
func (l *TCPListener) SetDeadline(t time.Time) error {
	if l.closed.Load() {
		return l.opError("set", net.ErrClosed)
	}
	l.acc.deadline.set(t)
	return nil
}

// opError wraps err as package net does for the listener's operation op.
func (l *TCPListener) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: l.net, Addr: netAddr(l.addr), Err: err}
}
