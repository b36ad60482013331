package netstack

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/waiter"
)

// side is one direction of a connection (its reads or its writes) or a listener's accepts:
// what serialises its operations, where they block, and their deadline.
//
// An operation holds mu from start to end, as package net's do, so concurrent reads (or
// writes) take turns and one Write never interleaves with another. When the endpoint cannot
// go on, the operation blocks on wake, a channel with room for one token that three things
// fill: the endpoint's events in the side's mask, the deadline's timer, and Close. entry stays
// registered on the endpoint's queue from construction to Close, so an event between a failed
// attempt and the wait is never lost and blocking registers nothing. A token can be stale (an
// event while nobody waited); that costs one more attempt, never a missed wake-up.
type side struct {
	mu       sync.Mutex
	wake     chan struct{}
	entry    waiter.Entry
	deadline deadline
}

// init registers the side on wq for the events in mask.
func (s *side) init(wq *waiter.Queue, mask waiter.EventMask) {
	s.wake = make(chan struct{}, 1)
	s.deadline.wake = s.wake
	s.entry.Init(waiter.ChannelNotifier(s.wake), mask)
	wq.EventRegister(&s.entry)
}

// close unregisters the side from wq, stops its timer and wakes an operation blocked on it.
func (s *side) close(wq *waiter.Queue) {
	wq.EventUnregister(&s.entry)
	s.deadline.stop()
	notify(s.wake)
}

// notify puts a token in ch unless one is there already.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// clockBase is the origin of the monotonic clock deadlines are kept in; it never changes.
var clockBase = time.Now()

// monotonic returns the monotonic time since clockBase.
func monotonic() int64 { return int64(time.Since(clockBase)) }

// deadline is a side's deadline, cheap to check on every operation: checking it is one
// atomic load, set or not, because its timer (not the operation) decides that it has passed,
// as the runtime's poller does for kernel sockets. The timer is created the first time a
// deadline in the future is set, armed only by set, and reused afterwards.
type deadline struct {
	// expired is true from the moment the deadline passes until the next set.
	expired atomic.Bool
	// wake is the side's channel, signalled when the deadline passes.
	wake chan struct{}
	// notice, if not nil, is fired too (a TCPConn's reads: NotifyReadable).
	notice *readNotice

	mu sync.Mutex
	// at is the monotonic time at which the deadline passes; 0 means no deadline.
	at    int64
	timer *time.Timer
}

// set makes t the deadline; the zero time removes it. An operation blocked on the side is
// woken when t is already past, and when t passes later.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.IsZero() {
		d.at = 0
		d.expired.Store(false)
		d.stopLocked()
		return
	}
	now := monotonic()
	wait := time.Until(t)
	if wait <= 0 {
		d.at = now
		d.expired.Store(true)
		d.stopLocked()
		d.expire()
		return
	}
	d.at = math.MaxInt64 // beyond the clock's range: never passes
	if wait < time.Duration(math.MaxInt64-now) {
		d.at = now + int64(wait)
	}
	d.expired.Store(false)
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.fire)
	} else {
		d.timer.Reset(wait)
	}
}

// fire runs when the timer expires. A timer armed for an earlier deadline may fire after set
// moved it later; fire then re-arms it for what remains instead of expiring the deadline.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.at == 0 {
		return
	}
	if left := d.at - monotonic(); left > 0 {
		d.timer.Reset(time.Duration(left))
		return
	}
	d.expired.Store(true)
	d.expire()
}

// expire wakes what waits for the deadline: a blocked operation, a pending notice.
func (d *deadline) expire() {
	notify(d.wake)
	if d.notice != nil {
		d.notice.fire()
	}
}

// stop stops the timer for good (on Close).
func (d *deadline) stop() {
	d.mu.Lock()
	d.at = 0
	d.stopLocked()
	d.mu.Unlock()
}

func (d *deadline) stopLocked() {
	if d.timer != nil {
		d.timer.Stop()
	}
}
