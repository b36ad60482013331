package usernet

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/internal/parktick"
)

// readNotifier is a relay source that can call a function once a Read would not block (data,
// the peer's close, an error, or Close), without a goroutine blocked on it: *netstack.TCPConn,
// and a host connection on Linux (kernelConn). fn must only hand off: it may run with the
// source's locks held.
type readNotifier interface {
	NotifyReadable(fn func())
}

// A relay direction whose source can notify (readNotifier) waits for its next data on its
// own goroutine first, blocked in the source's WaitRead: the next burst of a busy connection
// comes soon, and waking a blocked goroutine is cheaper than starting one. A direction that
// has waited through a whole tick of the network's parker (parktick.Interval) is parked: the parker
// ends the wait by moving the source's read deadline into the past, the goroutine removes
// the deadline, asks the source to notify it and returns, and the notification starts
// another goroutine that reads on. An idle relayed connection then costs its connections and
// the relay's few hundred bytes, no goroutine and no buffer.
//
// parkState.state says who has the direction; the parker and the waiting goroutine each move
// it with a compare-and-swap, so exactly one of them takes a waiting direction.
const (
	stBusy    uint32 = iota // a goroutine copies, or waits without the parker's leave
	stWaiting               // its goroutine waits for the source; the parker may park it
	stParked                // the parker took it: no goroutine once the notification is asked
)

// parkState is a relay direction's share of parking.
type parkState struct {
	state atomic.Uint32
	since atomic.Uint64 // the parker's tick when the wait began
	// kick is held by the parker while it parks the direction and sets the source's
	// deadline, so that the goroutine, finding it parked, removes the deadline only after.
	kick   sync.Mutex
	notify func() // h.notified, as the function given to NotifyReadable
}

// waitReadable waits until a Read of src would not block, and parks the direction when the
// parker ends the wait. parked true means the direction is parked and the goroutine must
// return without touching h; otherwise err is the wait's error (the Read's to come).
func (h *half) waitReadable() (parked bool, err error) {
	if h.wait == nil {
		return false, nil
	}
	if h.notifier == nil {
		return false, h.wait()
	}
	p := &h.park
	p.since.Store(h.r.n.parkClock.Now())
	p.state.Store(stWaiting)
	err = h.wait()
	if p.state.CompareAndSwap(stWaiting, stBusy) {
		return false, err
	}
	// The parker took it: once it has set the deadline (under kick), remove that, and park
	// unless the wait ended before the deadline did (data, an error).
	p.kick.Lock()
	p.kick.Unlock()
	h.src.SetReadDeadline(time.Time{})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		p.state.Store(stBusy)
		return false, err
	}
	// Asked last: the notification may start the next goroutine before this one returns.
	h.notifier.NotifyReadable(p.notify)
	return true, nil
}

// notified runs once a parked direction's source is readable: it starts a goroutine that
// copies on. It runs under the source's locks, or on the network's epoll goroutine.
func (h *half) notified() {
	if h.park.state.CompareAndSwap(stParked, stBusy) {
		go h.resume()
	}
}

// parkIfIdle parks h if it has waited through a whole tick by tick.
func (h *half) parkIfIdle(tick uint64) {
	p := &h.park
	if p.state.Load() != stWaiting || !parktick.Waited(p.since.Load(), tick) {
		return
	}
	p.kick.Lock()
	if p.state.CompareAndSwap(stWaiting, stParked) {
		h.src.SetReadDeadline(time.Unix(1, 0)) // long past: ends the wait
	}
	p.kick.Unlock()
}

// startParker starts the network's parker, once.
func (n *Network) startParker() {
	n.parkerOnce.Do(func() { n.goAdd(n.parker) })
}

// parker parks, at every tick of the network's parker clock, the relay directions that have
// waited through a whole tick, until the network closes.
func (n *Network) parker() {
	n.parkClock.Run(n.ctx.Done(), func(tick uint64) {
		n.mu.Lock()
		for c := range n.conns {
			if r, ok := c.(*relay); ok {
				r.ab.parkIfIdle(tick)
				r.ba.parkIfIdle(tick)
			}
		}
		n.mu.Unlock()
	})
}
