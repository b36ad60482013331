package usernet

import (
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// kernelParking is the network's epoll instance for parked host connections, made at the
// first relay of a host connection.
type kernelParking struct {
	once sync.Once
	p    *epollPoller // nil if it could not be made, or Close came first
}

// kernelConn is a relayed host connection that can park: it waits for readability in Go's
// poller (WaitRead) or, parked, on the network's epoll instance (NotifyReadable). Its
// socket stays the *net.TCPConn's; Close removes the registration before closing it, so
// every Close of a relayed host connection must go through the kernelConn.
type kernelConn struct {
	*net.TCPConn
	p        *epollPoller
	fd       int32
	waitRead func() error

	// Guarded by p.mu.
	closed bool
	gen    uint32          // the pending registration's generation
	fn     func()          // the pending registration's function
	ev     unix.EpollEvent // the registration's event, kept here so that it is not allocated
}

// parkable returns c ready to park when it is a host connection and the network's epoll
// instance is available, and c itself otherwise.
func (n *Network) parkable(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	p := n.epollPoller()
	if p == nil {
		return c
	}
	if kc := newKernelConn(p, tc); kc != nil {
		return kc
	}
	return c
}

// newKernelConn returns c parking on p, or nil if c's socket cannot be reached.
func newKernelConn(p *epollPoller, c *net.TCPConn) *kernelConn {
	wait := kernelReadWaiter(c)
	rc, err := c.SyscallConn()
	if wait == nil || err != nil {
		return nil
	}
	kc := &kernelConn{TCPConn: c, p: p, waitRead: wait}
	if err := rc.Control(func(fd uintptr) { kc.fd = int32(fd) }); err != nil {
		return nil
	}
	return kc
}

// epollPoller returns the network's epoll instance, made and started at the first call, or
// nil if it cannot be made or the network is closed.
func (n *Network) epollPoller() *epollPoller {
	k := &n.kernel
	k.once.Do(func() {
		p, err := newEpollPoller(n.log)
		if err != nil {
			n.log.Warn("usernet: relayed host connections will not park", "err", err)
			return
		}
		if !n.goAdd(p.run) {
			p.Close()
			return
		}
		if !n.addCloser(p) { // closed it: its goroutine ends
			return
		}
		k.p = p
	})
	return k.p
}

// WaitRead blocks until a Read would not block, without reading, in Go's poller: data, the
// peer's close, an error, the read deadline's passing or Close.
func (c *kernelConn) WaitRead() error { return c.waitRead() }

// NotifyReadable calls fn once a Read would not block (data, the peer's shutdown, an error) or
// the connection is closed, from the network's epoll goroutine, or at once when the
// connection is closed or cannot be registered. One notification may be pending at a time.
func (c *kernelConn) NotifyReadable(fn func()) { c.p.notifyReadable(c, fn) }

// Close removes a pending registration, closes the connection and then calls the pending
// function, whose relay direction then fails to read.
func (c *kernelConn) Close() error {
	fn := c.p.forget(c)
	err := c.TCPConn.Close()
	if fn != nil {
		fn()
	}
	return err
}
