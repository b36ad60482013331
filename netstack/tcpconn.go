package netstack

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TCPConn is a TCP connection of the stack, the counterpart of *net.TCPConn: a net.Conn with
// deadlines and half-close, whose errors have package net's shapes (*net.OpError around
// syscall.Errno, net.ErrClosed, os.ErrDeadlineExceeded, io.EOF; see Connections in the
// package documentation).
//
// Beyond net.Conn it writes a list of buffers in one call ([TCPConn.WriteBuffers]): a caller
// that has a response's head and body in separate buffers checks for that method and gets one
// segment instead of two, without copying them together.
//
// Reads and Writes allocate nothing in steady state. Beyond the endpoint's own work each takes
// one uncontended mutex, which makes concurrent Reads take turns, as do concurrent Writes
// (a Write returns only when all of its bytes are queued, or on an error, so Writes never
// interleave), and checks its deadline with one atomic load: a deadline is one timer per
// direction, armed by SetDeadline and friends, never by Read or Write.
type TCPConn struct {
	ep  tcpip.Endpoint
	wq  *waiter.Queue
	net string // "tcp", "tcp4" or "tcp6", for errors

	laddr, raddr *net.TCPAddr
	budget       *tcpBudget // the stack's, or nil (NewTCPConn)

	closed atomic.Bool

	rd   side
	rbuf tcpip.SliceWriter // the caller's buffer during a Read (guarded by rd.mu)

	wr  side
	src gather    // the caller's bytes during a Write (guarded by wr.mu)
	one [1][]byte // Write's single buffer as a list (guarded by wr.mu)

	notice readNotice // NotifyReadable's
}

var (
	_ net.Conn = (*TCPConn)(nil)
	_          = (interface {
		WriteBuffers(*net.Buffers) (int64, error)
		CloseWrite() error
		CloseRead() error
		NotifyReadable(func())
	})((*TCPConn)(nil))
)

// Events that wake a blocked Read or Write: besides data and room, an error or the peer's
// hang-up, so that a blocked operation returns it at once.
const (
	readEvents  = waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr
	writeEvents = waiter.WritableEvents | waiter.EventHUp | waiter.EventErr
)

// NewTCPConn makes a connected TCP endpoint of the stack, created through [Stack.TCPIP] (by a
// tcp.Forwarder, say), into a *TCPConn. The TCPConn owns ep from then on: its Close closes
// ep. wq must be the queue ep was created with.
func NewTCPConn(wq *waiter.Queue, ep tcpip.Endpoint) *TCPConn {
	return newTCPConn("tcp", wq, ep, nil)
}

// newTCPConn makes the connection and counts it in budget, if not nil, until Close.
func newTCPConn(network string, wq *waiter.Queue, ep tcpip.Endpoint, budget *tcpBudget) *TCPConn {
	c := &TCPConn{ep: ep, wq: wq, net: network, laddr: localTCPAddr(ep), raddr: remoteTCPAddr(ep), budget: budget}
	c.rd.init(wq, readEvents)
	c.wr.init(wq, writeEvents)
	c.rd.deadline.notice = &c.notice
	if budget != nil {
		budget.add(c)
	}
	return c
}

// Read reads data from the connection into b, with no intermediate copy: the endpoint's
// buffers are copied straight into b. It returns io.EOF once the peer has closed its side and
// everything before it has been read.
func (c *TCPConn) Read(b []byte) (int, error) {
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	if c.closed.Load() {
		return 0, c.opError("read", net.ErrClosed)
	}
	if c.rd.deadline.expired.Load() {
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	}
	if len(b) == 0 {
		return 0, nil
	}
	c.rbuf = b
	defer func() { c.rbuf = nil }()
	for {
		res, terr := c.ep.Read(&c.rbuf, tcpip.ReadOptions{})
		if terr == nil {
			c.ep.ModerateRecvBuf(res.Count)
			return res.Count, nil
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			if c.closed.Load() {
				return 0, c.opError("read", net.ErrClosed)
			}
			if err := sysError("read", terr); err != io.EOF {
				return 0, c.opError("read", err)
			}
			return 0, io.EOF
		}
		<-c.rd.wake
		if c.closed.Load() {
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.rd.deadline.expired.Load() {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
	}
}

// WaitRead blocks until a Read would not block: data has arrived, the peer has closed its
// side, or an error is pending. It returns the error Read would if the connection is closed
// or the read deadline passes first. It takes no data, so that a caller with many idle
// connections (a relay) need not hold a buffer for each while it waits.
func (c *TCPConn) WaitRead() error {
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	for {
		switch {
		case c.closed.Load():
			return c.opError("read", net.ErrClosed)
		case c.rd.deadline.expired.Load():
			return c.opError("read", os.ErrDeadlineExceeded)
		case c.ep.Readiness(readEvents) != 0:
			return nil
		}
		<-c.rd.wake
	}
}

// Write writes b to the connection. It returns when every byte is queued in the endpoint's
// send buffer, blocking while the buffer is full, or on an error, with the number of bytes
// queued before it. The endpoint copies b; the caller may reuse b when Write returns.
func (c *TCPConn) Write(b []byte) (int, error) {
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	c.one[0] = b
	c.src.reset(c.one[:])
	n, err := c.send()
	c.one[0] = nil
	c.src.reset(nil)
	return int(n), err
}

// WriteBuffers writes the contents of *v, as if concatenated, in one endpoint Write when the
// send buffer has room (so a response's head and body leave as one segment when they fit in
// one), blocking for room otherwise. It consumes v as net.Buffers.WriteTo does: on return *v
// holds what was not written. Like Write, it is atomic with respect to other Writes.
func (c *TCPConn) WriteBuffers(v *net.Buffers) (int64, error) {
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	c.src.reset(*v)
	n, err := c.send()
	c.src.reset(nil)
	consume((*[][]byte)(v), n)
	return n, err
}

// send writes c.src to the endpoint. The caller holds wr.mu.
func (c *TCPConn) send() (int64, error) {
	if c.closed.Load() {
		return 0, c.opError("write", net.ErrClosed)
	}
	var total int64
	for {
		if c.wr.deadline.expired.Load() {
			return total, c.opError("write", os.ErrDeadlineExceeded)
		}
		if c.src.Len() == 0 {
			return total, nil
		}
		// Atomic keeps the endpoint's lock across the copy, so the endpoint takes exactly
		// what it reads and needs no reader of its own (without it, gVisor allocates one
		// per Write).
		at := c.src.at
		n, terr := c.ep.Write(&c.src, tcpip.WriteOptions{Atomic: true})
		c.src.seek(at, int(n))
		total += n
		switch terr.(type) {
		case nil:
			continue
		case *tcpip.ErrWouldBlock:
		default:
			if c.closed.Load() {
				return total, c.opError("write", net.ErrClosed)
			}
			return total, c.opError("write", sysError("write", terr))
		}
		<-c.wr.wake
		if c.closed.Load() {
			return total, c.opError("write", net.ErrClosed)
		}
	}
}

// Close closes the connection: the endpoint sends FIN (or RST if data was left unread) and
// blocked Reads and Writes return net.ErrClosed. Closing a closed connection returns an error
// wrapping net.ErrClosed, as *net.TCPConn does.
func (c *TCPConn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", net.ErrClosed)
	}
	if c.budget != nil {
		c.budget.remove(c)
	}
	c.rd.close(c.wq)
	c.wr.close(c.wq)
	c.closeNotice()
	c.ep.Close()
	return nil
}

// CloseWrite shuts down the sending side: the peer reads io.EOF once it has read what was
// sent, and can still send; this side can still read.
func (c *TCPConn) CloseWrite() error {
	return c.shutdown(tcpip.ShutdownWrite)
}

// CloseRead shuts down the receiving side: Reads return io.EOF. Most callers want Close.
func (c *TCPConn) CloseRead() error {
	return c.shutdown(tcpip.ShutdownRead)
}

func (c *TCPConn) shutdown(how tcpip.ShutdownFlags) error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	if terr := c.ep.Shutdown(how); terr != nil {
		return c.opError("close", sysError("shutdown", terr))
	}
	return nil
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *TCPConn) LocalAddr() net.Addr { return netAddr(c.laddr) }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *TCPConn) RemoteAddr() net.Addr { return netAddr(c.raddr) }

// SetDeadline sets the read and write deadlines, as net.Conn's SetDeadline does.
func (c *TCPConn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rd.deadline.set(t)
	c.wr.deadline.set(t)
	return nil
}

// SetReadDeadline sets the deadline of Reads, pending ones included; the zero time removes it.
// A Read after it passes returns an error wrapping os.ErrDeadlineExceeded.
func (c *TCPConn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rd.deadline.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of Writes, pending ones included; the zero time removes
// it. A Write that it interrupts reports how many bytes it had queued.
func (c *TCPConn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.wr.deadline.set(t)
	return nil
}

// SetNoDelay controls Nagle's algorithm: true (the default, as on *net.TCPConn) sends small
// writes at once.
func (c *TCPConn) SetNoDelay(noDelay bool) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.ep.SocketOptions().SetDelayOption(!noDelay)
	return nil
}

// SetKeepAlive turns TCP keep-alive probes on or off.
func (c *TCPConn) SetKeepAlive(keepalive bool) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.ep.SocketOptions().SetKeepAlive(keepalive)
	return nil
}

// SetKeepAlivePeriod sets the idle time before the first keep-alive probe and the time
// between probes.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	idle, interval := tcpip.KeepaliveIdleOption(d), tcpip.KeepaliveIntervalOption(d)
	if terr := c.ep.SetSockOpt(&idle); terr != nil {
		return c.opError("set", sysError("setsockopt", terr))
	}
	if terr := c.ep.SetSockOpt(&interval); terr != nil {
		return c.opError("set", sysError("setsockopt", terr))
	}
	return nil
}

// opError wraps err as package net does for a connection's operation op.
func (c *TCPConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.net, Source: netAddr(c.laddr), Addr: netAddr(c.raddr), Err: err}
}
