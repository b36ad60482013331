package usernet

import (
	"context"
	"errors"
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
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	g, err := n.stack.DialAddr(ctx, "tcp", netip.AddrPortFrom(n.cfg.Guest, port))
	cancel()
	n.untrack(c) // the relay tracks it from here
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
