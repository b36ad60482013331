package netstack

import (
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// UDPConn is a UDP socket of the stack, the counterpart of *net.UDPConn: a net.PacketConn
// (from [Stack.ListenPacket]) and, when connected (from [Stack.Dial] with "udp"), a net.Conn.
// Its errors have package net's shapes, as [TCPConn]'s do.
//
// Each Read or ReadFrom returns one datagram; a datagram larger than the buffer is cut to it,
// as on Linux. Each Write or WriteTo sends one datagram. ReadFromUDPAddrPort and
// WriteToUDPAddrPort allocate nothing; ReadFrom allocates the *net.UDPAddr it returns.
type UDPConn struct {
	ep  tcpip.Endpoint
	wq  *waiter.Queue
	net string

	laddr, raddr *net.UDPAddr // raddr is nil unless connected

	closed atomic.Bool

	rd   side
	rbuf tcpip.SliceWriter // guarded by rd.mu

	wr  side
	src gather            // guarded by wr.mu
	one [1][]byte         // guarded by wr.mu
	to  tcpip.FullAddress // WriteTo's destination, guarded by wr.mu
}

var (
	_ net.Conn       = (*UDPConn)(nil)
	_ net.PacketConn = (*UDPConn)(nil)
)

// NewUDPConn makes a UDP endpoint of the stack, created through [Stack.TCPIP] (to set
// options such as SO_BROADCAST or bind it to a NIC first), into a *UDPConn. The UDPConn owns
// ep from then on: its Close closes ep. wq must be the queue ep was created with.
func NewUDPConn(wq *waiter.Queue, ep tcpip.Endpoint) *UDPConn {
	return newUDPConn("udp", wq, ep)
}

func newUDPConn(network string, wq *waiter.Queue, ep tcpip.Endpoint) *UDPConn {
	c := &UDPConn{ep: ep, wq: wq, net: network}
	if fa, terr := ep.GetLocalAddress(); terr == nil {
		c.laddr = udpAddr(fa)
	}
	if fa, terr := ep.GetRemoteAddress(); terr == nil {
		c.raddr = udpAddr(fa)
	}
	c.rd.init(wq, readEvents)
	c.wr.init(wq, writeEvents)
	return c
}

// Read reads one datagram from the connected peer into b.
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.read(b, false)
	return n, err
}

// ReadFrom reads one datagram into b and returns its sender, a *net.UDPAddr.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := c.read(b, true)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// ReadFromUDPAddrPort reads one datagram into b and returns its sender, without allocating.
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.read(b, true)
}

func (c *UDPConn) read(b []byte, from bool) (int, netip.AddrPort, error) {
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	c.rbuf = b
	defer func() { c.rbuf = nil }()
	for {
		if c.closed.Load() {
			return 0, netip.AddrPort{}, c.opError("read", nil, net.ErrClosed)
		}
		if c.rd.deadline.expired.Load() {
			return 0, netip.AddrPort{}, c.opError("read", nil, os.ErrDeadlineExceeded)
		}
		res, terr := c.ep.Read(&c.rbuf, tcpip.ReadOptions{NeedRemoteAddr: from})
		switch terr.(type) {
		case nil:
			return res.Count, addrPort(res.RemoteAddr), nil
		case *tcpip.ErrBadBuffer:
			if len(b) == 0 { // the datagram is consumed, as a zero-length recvfrom does
				return 0, addrPort(res.RemoteAddr), nil
			}
		case *tcpip.ErrWouldBlock:
			<-c.rd.wake
			continue
		}
		if c.closed.Load() {
			return 0, netip.AddrPort{}, c.opError("read", nil, net.ErrClosed)
		}
		return 0, netip.AddrPort{}, c.opError("read", nil, sysError("recvfrom", terr))
	}
}

// Write sends b as one datagram to the connected peer.
func (c *UDPConn) Write(b []byte) (int, error) {
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	return c.send(b, nil, nil)
}

// WriteTo sends b as one datagram to addr, which must be a *net.UDPAddr. On a connected
// UDPConn it returns net.ErrWriteToConnected, as *net.UDPConn does.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opError("write", addr, syscall.EINVAL)
	}
	return c.writeTo(b, ua.AddrPort(), addr)
}

// WriteToUDPAddrPort sends b as one datagram to ap, without allocating.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	return c.writeTo(b, ap, nil)
}

// writeTo sends b to ap; addr, if not nil, is ap as the caller gave it, for errors.
func (c *UDPConn) writeTo(b []byte, ap netip.AddrPort, addr net.Addr) (int, error) {
	if c.raddr != nil {
		return 0, c.opError("write", addr, net.ErrWriteToConnected)
	}
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	c.to, _ = fullAddress(ap)
	return c.send(b, &c.to, addr)
}

// send writes b as one datagram, to to or the connected peer; addr is to as the caller gave
// it, if it did, for errors. The caller holds wr.mu.
func (c *UDPConn) send(b []byte, to *tcpip.FullAddress, dst net.Addr) (int, error) {
	c.one[0] = b
	defer func() { c.one[0] = nil }()
	for {
		if c.closed.Load() {
			return 0, c.opError("write", c.dstAddr(to, dst), net.ErrClosed)
		}
		if c.wr.deadline.expired.Load() {
			return 0, c.opError("write", c.dstAddr(to, dst), os.ErrDeadlineExceeded)
		}
		c.src.reset(c.one[:])
		n, terr := c.ep.Write(&c.src, tcpip.WriteOptions{To: to})
		c.src.reset(nil)
		switch terr.(type) {
		case nil:
			return int(n), nil
		case *tcpip.ErrWouldBlock:
			<-c.wr.wake
			continue
		}
		if c.closed.Load() {
			return 0, c.opError("write", c.dstAddr(to, dst), net.ErrClosed)
		}
		return 0, c.opError("write", c.dstAddr(to, dst), sysError("sendto", terr))
	}
}

// dstAddr names the destination of a failed send: addr as the caller gave it, else to.
func (c *UDPConn) dstAddr(to *tcpip.FullAddress, addr net.Addr) net.Addr {
	if addr != nil || to == nil {
		return addr
	}
	return udpAddr(*to)
}

// Close closes the socket; blocked Reads and Writes return net.ErrClosed. Closing a closed
// UDPConn returns an error wrapping net.ErrClosed, as *net.UDPConn does.
func (c *UDPConn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", nil, net.ErrClosed)
	}
	c.rd.close(c.wq)
	c.wr.close(c.wq)
	c.ep.Close()
	return nil
}

// LocalAddr returns the local address, a *net.UDPAddr.
func (c *UDPConn) LocalAddr() net.Addr { return netAddr(c.laddr) }

// RemoteAddr returns the connected peer's address, a *net.UDPAddr, or nil.
func (c *UDPConn) RemoteAddr() net.Addr { return netAddr(c.raddr) }

// SetDeadline sets the read and write deadlines, as net.Conn's SetDeadline does.
func (c *UDPConn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.rd.deadline.set(t)
	c.wr.deadline.set(t)
	return nil
}

// SetReadDeadline sets the deadline of reads, pending ones included; the zero time removes it.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.rd.deadline.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of writes, pending ones included; the zero time removes
// it.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.wr.deadline.set(t)
	return nil
}

// opError wraps err as package net does for op; addr is the remote address when the
// operation names one (WriteTo), else the connected peer's.
func (c *UDPConn) opError(op string, addr net.Addr, err error) error {
	if addr == nil {
		addr = netAddr(c.raddr)
	}
	return &net.OpError{Op: op, Net: c.net, Source: netAddr(c.laddr), Addr: addr, Err: err}
}
