package netstack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/waiter"
)

// readNotice is a TCPConn's pending NotifyReadable: a function to call once, from whichever
// comes first of the endpoint's read events, the read deadline's passing and Close. Its entry
// is registered on the endpoint's queue at the first NotifyReadable and stays there until
// Close, so that parking a connection again and again registers nothing.
type readNotice struct {
	mu         sync.Mutex // guards registered and entry's registration
	registered bool
	entry      waiter.Entry

	fn      func()
	pending atomic.Bool // fn is set and has not been called
}

// NotifyEvent implements waiter.EventListener. It runs under the endpoint queue's lock.
func (n *readNotice) NotifyEvent(waiter.EventMask) { n.fire() }

// fire calls the pending function, once.
func (n *readNotice) fire() {
	if n.pending.CompareAndSwap(true, false) {
		n.fn()
	}
}

// NotifyReadable calls fn once a Read would not block: data has arrived, the peer has closed
// its side, an error is pending, the read deadline has passed, or the connection is closed.
// If one of these holds already, fn is called before NotifyReadable returns. It lets a caller
// with many idle connections (a server's keep-alive connections) wait for them without a
// goroutine, or a buffer, for each.
//
// fn may run on the stack's goroutine with the endpoint's locks held, or on a timer's: it must
// not block or call the connection; it should only hand off (start a goroutine that reads, say).
// One notification may be pending at a time: call NotifyReadable again only after fn has run.
// It allocates nothing.
func (c *TCPConn) NotifyReadable(fn func()) {
	n := &c.notice
	n.mu.Lock()
	n.fn = fn
	n.pending.Store(true)
	// Registered under mu, after Close's closed.Swap or before Close unregisters it: an
	// entry is never left on a closed connection's queue.
	if !n.registered && !c.closed.Load() {
		n.entry.Init(n, readEvents)
		c.wq.EventRegister(&n.entry)
		n.registered = true
	}
	n.mu.Unlock()
	// Registered first, checked then: an event before the registration is seen here, one
	// after it calls fire.
	if c.closed.Load() || c.rd.deadline.expired.Load() || c.ep.Readiness(readEvents) != 0 {
		n.fire()
	}
}

// closeNotice unregisters the notice's entry and calls a pending function (on Close).
func (c *TCPConn) closeNotice() {
	n := &c.notice
	n.mu.Lock()
	if n.registered {
		c.wq.EventUnregister(&n.entry)
		n.registered = false
	}
	n.mu.Unlock()
	n.fire()
}
