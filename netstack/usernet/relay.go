package usernet

import (
	"io"
	"net"
	"sync/atomic"

	"github.com/unikit/unikit/netstack"
)

// A relay copies between two connections in both directions, passing a half-close (EOF) from
// one side on as CloseWrite to the other, until both directions have ended; then it closes
// both. An error in either direction closes both at once. Each direction (a half) runs on a
// goroutine while data moves and while it waits briefly for more; a direction whose source
// stays idle is parked without a goroutine and restarted when the source becomes readable
// (park.go). The relay is one of the Network's tracked connections, and one count of its wait
// group, from start until both directions have ended: Close ends it by closing it.
type relay struct {
	n    *Network
	a, b net.Conn
	ab   half // a to b
	ba   half // b to a
	// live counts the directions that have not ended; the one that ends last finishes the
	// relay.
	live atomic.Int32
}

// half is one direction of a relay: it copies src to dst.
type half struct {
	r        *relay
	dst, src net.Conn
	// wait blocks until a Read of src would not block, without reading; nil if src offers
	// no such wait (the copy then waits in Read, holding a buffer).
	wait func() error
	// notifier is src when it can call a function once readable without a goroutine blocked
	// on it, which lets the half park; nil if it cannot.
	notifier readNotifier
	park     parkState
}

// relay relays between a and b (see [relay]) until both directions have ended, the first on
// the calling goroutine, which returns when that direction ends or parks. Close ends a relay
// by closing its connections; the caller must not have them tracked itself, as Close must
// close a host connection through the relay (see Network.parkable).
func (n *Network) relay(a, b net.Conn) {
	r := &relay{n: n, a: n.parkable(a), b: n.parkable(b)}
	r.ab.init(r, r.b, r.a)
	r.ba.init(r, r.a, r.b)
	r.live.Store(2)
	if !n.trackRelay(r) {
		r.Close()
		return
	}
	n.startParker()
	go r.ba.run()
	r.ab.run()
}

// trackRelay registers r with Close, as a tracked connection and one count of the wait group
// that the relay's last direction releases; it returns false once Close has started.
func (n *Network) trackRelay(r *relay) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.conns[r] = struct{}{}
	n.wg.Add(1)
	return true
}

// Close closes both connections; a parked direction is restarted by its source's
// notification, which a Close fires, and ends on the failed read.
func (r *relay) Close() error {
	r.a.Close()
	r.b.Close()
	return nil
}

// done ends a direction; the last one closes both connections and ends the relay.
func (r *relay) done() {
	if r.live.Add(-1) != 0 {
		return
	}
	r.Close()
	r.n.untrack(r)
	r.n.wg.Done()
}

func (h *half) init(r *relay, dst, src net.Conn) {
	h.r, h.dst, h.src = r, dst, src
	h.wait = readWaiter(src)
	if rn, ok := src.(readNotifier); ok && h.wait != nil {
		h.notifier = rn
		h.park.notify = h.notified
	}
}

// run copies from the start: it waits for src first.
func (h *half) run() { h.pump(false) }

// resume copies on after a parked half's source became readable.
func (h *half) resume() { h.pump(true) }

// pump copies src to dst until src's EOF or an error on either side, or until the half parks.
// It applies back-pressure and holds memory only while data moves: it reads from src only
// what it has written to dst, one buffer at a time, and between bursts it waits for src to
// become readable without a buffer (see readWaiter), returning the buffer to the network's
// pool. An idle direction then costs no buffer, once parked no goroutine either, and a slow
// reader holds at most one buffer. readable says src is readable already: no wait first.
func (h *half) pump(readable bool) {
	for {
		if !readable {
			parked, err := h.waitReadable()
			if parked {
				return
			}
			if err != nil {
				h.end(err)
				return
			}
		}
		readable = false
		bp := h.r.n.relayBufs.Get().(*[]byte)
		err := burst(h.dst, h.src, *bp)
		h.r.n.relayBufs.Put(bp)
		if err != nil {
			h.end(err)
			return
		}
	}
}

// closeWriter is implemented by connections that can half-close (*net.TCPConn,
// *netstack.TCPConn).
type closeWriter interface{ CloseWrite() error }

// end ends the direction on err: at src's EOF it half-closes dst, on an error (or when dst
// cannot half-close) it closes both connections.
func (h *half) end(err error) {
	if err == io.EOF {
		if cw, ok := h.dst.(closeWriter); ok && cw.CloseWrite() == nil {
			h.r.done()
			return
		}
	}
	h.r.Close()
	h.r.done()
}

// relayBufSize is the size of a relay's copy buffer: io.Copy's, which moves bulk data through
// the relay as fast as larger ones do on loopback.
const relayBufSize = 32 << 10

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
// reading, or nil if c offers none; the relay then waits in Read, holding a buffer.
func readWaiter(c net.Conn) func() error {
	switch c := c.(type) {
	case *netstack.TCPConn:
		return c.WaitRead
	case *net.TCPConn:
		return kernelReadWaiter(c)
	case interface{ WaitRead() error }: // a host connection that parks (Network.parkable)
		return c.WaitRead
	}
	return nil
}
