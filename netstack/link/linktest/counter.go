package linktest

import (
	"fmt"
	"sync"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// Counter is a [link.Receiver] that releases every frame at once and counts the frames its
// filter accepts, without allocating: for allocation tests and benchmarks, where a
// [Recorder]'s copies would be measured too.
//
// One goroutine at a time may wait on a Counter.
type Counter struct {
	l      link.Link
	filter func(f *link.Frame) bool
	timer  *time.Timer // reused by Wait, so that waiting does not allocate

	mu       sync.Mutex
	n        int           // frames counted
	consumed int           // frames Wait has returned for
	wake     chan struct{} // capacity 1: something was counted
}

var _ link.Receiver = (*Counter)(nil)

// NewCounter returns a Counter that releases frames to l and counts those for which filter
// returns true; a nil filter counts every frame. filter sees frames before they are released
// and must not allocate if the Counter is to stay allocation-free.
func NewCounter(l link.Link, filter func(f *link.Frame) bool) *Counter {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Counter{l: l, filter: filter, timer: t, wake: make(chan struct{}, 1)}
}

// DeliverFrames implements [link.Receiver].
func (c *Counter) DeliverFrames(frames []link.Frame) {
	k := len(frames)
	if c.filter != nil {
		k = 0
		for i := range frames {
			if c.filter(&frames[i]) {
				k++
			}
		}
	}
	c.l.Release(frames)
	if k == 0 {
		return
	}
	c.mu.Lock()
	c.n += k
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// LinkStateChanged implements [link.Receiver]; a Counter ignores link-state changes.
func (c *Counter) LinkStateChanged(bool) {}

// Count returns the number of frames counted so far.
func (c *Counter) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Wait waits until n more frames have been counted than the previous Waits returned for,
// and returns an error after [DefaultTimeout] without them.
func (c *Counter) Wait(n int) error {
	armed := false
	defer func() {
		if armed {
			c.timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if c.n-c.consumed >= n {
			c.consumed += n
			c.mu.Unlock()
			return nil
		}
		have := c.n - c.consumed
		c.mu.Unlock()
		if !armed {
			c.timer.Reset(DefaultTimeout)
			armed = true
		}
		select {
		case <-c.wake:
		case <-c.timer.C:
			return fmt.Errorf("linktest: %d of %d frames arrived in %v", have, n, DefaultTimeout)
		}
	}
}
