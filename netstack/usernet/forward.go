package usernet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/unikit/unikit/netstack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// dialTimeout bounds connecting to the guest (port forwards) or to the host (HostLoopback).
const dialTimeout = 10 * time.Second

// maxPendingLoopback bounds the half-open guest connections HostLoopback handles at once.
const maxPendingLoopback = 64

// serveForward accepts host connections on ln and relays each to the guest's port until ln is
// closed.
func (n *Network) serveForward(ln net.Listener, port uint16) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || n.ctx.Err() != nil {
				return
			}
			// Out of file descriptors or similar: back off instead of spinning.
			n.log.Warn("usernet: accepting forwarded connection", "addr", ln.Addr(), "err", err)
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !n.goAdd(func() { n.forwardConn(c, port) }) {
			c.Close()
			return
		}
	}
}

// forwardConn connects the host connection c to the guest's port and relays between them.
func (n *Network) forwardConn(c net.Conn, port uint16) {
	if !n.track(c) {
		c.Close()
		return
	}
	defer n.untrack(c)
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	g, err := n.stack.DialAddr(ctx, "tcp", netip.AddrPortFrom(n.cfg.Guest, port))
	cancel()
	if err != nil {
		n.log.Debug("usernet: forward to guest failed", "port", port, "err", err)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // reset, as a refused connection would be
		}
		c.Close()
		return
	}
	n.relay(c, g)
}

// relay copies between a and b in both directions, passing a half-close (EOF) from one side
// on as CloseWrite to the other, until both directions have ended; then it closes both. An
// error in either direction closes both at once. Close ends a relay by closing its
// connections.
func (n *Network) relay(a, b net.Conn) {
	if !n.track(a) || !n.track(b) {
		a.Close()
		b.Close()
		return
	}
	defer n.untrack(a)
	defer n.untrack(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.copyHalf(b, a)
	}()
	n.copyHalf(a, b)
	<-done
	a.Close()
	b.Close()
}

// closeWriter is implemented by connections that can half-close (*net.TCPConn,
// *netstack.TCPConn).
type closeWriter interface{ CloseWrite() error }

// relayBufSize is the size of a relay's copy buffer: io.Copy's, which moves bulk data through
// the relay as fast as larger ones do on loopback.
const relayBufSize = 32 << 10

// copyHalf copies src to dst; at EOF it half-closes dst, on an error it closes both.
func (n *Network) copyHalf(dst, src net.Conn) {
	err := n.pump(dst, src)
	if err == nil {
		if cw, ok := dst.(closeWriter); ok && cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}

// pump copies src to dst until src's EOF (nil) or an error on either side. It applies
// back-pressure and holds memory only while data moves: it reads from src only what it has
// written to dst, one buffer at a time, and between bursts it waits for src to become
// readable without a buffer (see readWaiter), returning the buffer to the network's pool. An
// idle relayed connection then costs no buffer, and a slow reader holds at most one.
func (n *Network) pump(dst, src net.Conn) error {
	wait := readWaiter(src)
	for {
		if wait != nil {
			if err := wait(); err != nil {
				return err
			}
		}
		bp := n.relayBufs.Get().(*[]byte)
		err := burst(dst, src, *bp)
		n.relayBufs.Put(bp)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// burst copies from src to dst through buf while reads fill buf; it returns nil when a read
// returns less (src has nothing more for now) and the caller can wait without the buffer, or
// the error that ended the copy (io.EOF at src's end).
func burst(dst, src net.Conn, buf []byte) error {
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			if _, err := dst.Write(buf[:nr]); err != nil {
				return err
			}
		}
		if rerr != nil {
			return rerr
		}
		if nr < len(buf) {
			return nil
		}
	}
}

// readWaiter returns a function that blocks until a Read of c would not block, without
// reading, or nil if c offers none; pump then waits in Read, holding a buffer.
func readWaiter(c net.Conn) func() error {
	switch c := c.(type) {
	case *netstack.TCPConn:
		return c.WaitRead
	case *net.TCPConn:
		return kernelReadWaiter(c)
	}
	return nil
}

// handleHostLoopback is the gateway stack's TCP forwarder for [Config.HostLoopback]: a
// connection from the guest to the gateway address is connected to the same port on the
// host's 127.0.0.1; anything else, or a refused host connection, is reset. gVisor runs it in
// a goroutine of its own per connection request.
func (n *Network) handleHostLoopback(r *tcp.ForwarderRequest) {
	if !n.enter() {
		r.Complete(true)
		return
	}
	defer n.wg.Done()
	id := r.ID()
	if id.LocalAddress != tcpip.AddrFrom4(n.cfg.Gateway.As4()) {
		r.Complete(true)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	var d net.Dialer
	h, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), id.LocalPort).String())
	cancel()
	if err != nil {
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		r.Complete(true)
		h.Close()
		return
	}
	r.Complete(false)
	n.relay(netstack.NewTCPConn(&wq, ep), h)
}
