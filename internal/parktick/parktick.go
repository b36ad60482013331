// Package parktick is the clock by which a server finds the connections that have waited long
// enough to be parked without a goroutine: httpserve's idle keep-alive connections and
// usernet's idle relay directions. A wait records the clock's tick when it begins; a
// goroutine running the clock visits the waiting connections at every tick and parks those
// that have waited through a whole tick ([Waited]), so an idle connection keeps its goroutine
// for one to two ticks.
package parktick

import (
	"sync/atomic"
	"time"
)

// Interval is the time between ticks. A busy keep-alive connection's next request, and a busy
// relay's next burst, come well within it, so parking does not start a goroutine per request;
// a longer wait would only add to the goroutines (and their stacks, which the runtime keeps
// after they exit) that a burst of new connections leaves behind: with a second, 5,000
// connections to the blog opened within a few seconds left it 10 KB more resident per
// connection 10 s later.
const Interval = 100 * time.Millisecond

// Clock counts ticks while Run runs. Its zero value is ready.
type Clock struct {
	ticks atomic.Uint64
}

// Now returns the ticks counted so far: what a wait records when it begins.
func (c *Clock) Now() uint64 { return c.ticks.Load() }

// Waited reports whether a wait that began at tick since has lasted through a whole tick by
// tick now (it began before the tick before now).
func Waited(since, now uint64) bool { return since+1 < now }

// Run counts a tick every Interval and calls visit with its number, until stop is closed.
func (c *Clock) Run(stop <-chan struct{}, visit func(tick uint64)) {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		visit(c.ticks.Add(1))
	}
}
