package httpserve

import (
	"sync/atomic"

	"github.com/unikit/unikit/internal/parktick"
)

// readNotifier is a connection that can call a function once a Read would not block (data,
// the peer's close, an error, its read deadline's passing, or Close), without a goroutine
// blocked on it (*netstack.TCPConn). fn may run with the connection's stack locked: it must
// only hand off.
type readNotifier interface {
	NotifyReadable(fn func())
}

// A connection that waits for its next request on a readNotifier first waits on its own
// goroutine, blocked on its wake channel, as a busy keep-alive connection's next request
// comes soon and waking a blocked goroutine is cheaper than starting one (starting one for
// every request, whose stack then grows again, cost the blog over TAP 40% more CPU per 4 KiB
// request at 50 connections). A connection that
// has waited through a whole tick of the server's parker (parktick.Interval) is parked: its goroutine
// returns, and the connection's next readable event (or its idle deadline, Shutdown's past
// deadline, or Close) starts another that reads on. An idle keep-alive connection then costs
// the server its conn and its stack's endpoint only.
//
// waitState says who has the connection while it waits; every move is a compare-and-swap,
// so exactly one of the notification and the parker takes a waiting connection, and exactly
// one token is sent on wake for each wait.
const (
	stBusy    uint32 = iota // a goroutine serves it
	stWaiting               // its goroutine is blocked on wake, a notification pending
	stWoken                 // the notification came while its goroutine waited: it reads on
	stParked                // no goroutine: the notification starts one
)

// parkState is a connection's share of parking.
type parkState struct {
	state  atomic.Uint32
	wake   chan struct{} // its goroutine waits on it
	since  atomic.Uint64 // the parker's tick when the wait began
	notify func()        // c.notified, as the function given to NotifyReadable
}

// waitRead waits for the connection's next request without its buffers, on its goroutine
// until the parker parks it. It reports whether the goroutine reads on; false means the
// connection is parked and the caller must return without touching c.
func (c *conn) waitRead(rn readNotifier) bool {
	c.releaseBuffers()
	p := &c.park
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
		p.notify = c.notified
	}
	c.srv.startParker()
	p.since.Store(c.srv.parkClock.Now())
	p.state.Store(stWaiting)
	rn.NotifyReadable(p.notify)
	<-p.wake
	// stWoken: the notification's token. Otherwise the parker's: the connection is parked,
	// and may be running on another goroutine already.
	return p.state.CompareAndSwap(stWoken, stBusy)
}

// notified runs when a waiting connection is readable (or its deadline passed, or it was
// closed): it wakes the connection's goroutine or, if parked, starts one. It runs under the
// stack's locks.
func (c *conn) notified() {
	p := &c.park
	for {
		switch p.state.Load() {
		case stWaiting:
			if p.state.CompareAndSwap(stWaiting, stWoken) {
				p.wake <- struct{}{}
				return
			}
		case stParked:
			if p.state.CompareAndSwap(stParked, stBusy) {
				go c.resume()
				return
			}
		default:
			return // one notification per wait: not reached
		}
	}
}

// resume reads what woke the parked connection and serves on, or ends the connection when
// the read fails (the idle deadline passed, Shutdown, Close, the peer's hang-up).
func (c *conn) resume() {
	if c.read() {
		c.run()
		return
	}
	c.end()
}

// startParker starts the server's parker, once.
func (s *Server) startParker() {
	s.parkerOnce.Do(func() { go s.parker() })
}

// parker parks, at every tick of the server's parker clock, the connections that have waited
// through a whole tick, until the server shuts down.
func (s *Server) parker() {
	s.parkClock.Run(s.parkerStop, func(tick uint64) {
		s.mu.Lock()
		for c := range s.conns {
			p := &c.park
			if parktick.Waited(p.since.Load(), tick) && p.state.CompareAndSwap(stWaiting, stParked) {
				p.wake <- struct{}{}
			}
		}
		s.mu.Unlock()
	})
}
