package appliance

import (
	"context"
	"runtime"
	"time"
)

// Reclaiming memory after connections leave. A connection's buffers become garbage when it
// closes, but the collector runs only when the heap grows to its goal, which the buffers set
// high while they were live; an appliance left idle then keeps them resident until the
// runtime's periodic collection, two minutes later, and gVisor's buffer pools keep freed
// buffers through one more collection. So the appliance watches its stack's connections and,
// when many have closed, collects twice, a reclaimInterval apart; the runtime's scavenger then
// hands the freed pages back to the operating system in the background.
const (
	// reclaimInterval is how often the connections are counted.
	reclaimInterval = 2 * time.Second
	// reclaimDrop is the fewest closed connections that make it collect: with fewer, what
	// their buffers hold is small against the heap's headroom.
	reclaimDrop = 64
)

// reclaimer collects garbage after many of the stack's connections have closed.
type reclaimer struct {
	open func() uint64 // the connections open now
	gc   func()        // runtime.GC, or a test's counter
	// peak is the most connections open since the last collection.
	peak uint64
	// again is set after a collection that must be followed by another.
	again bool
}

// run counts the connections every reclaimInterval until ctx is done.
func (r *reclaimer) run(ctx context.Context) {
	t := time.NewTicker(reclaimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check()
		}
	}
}

// check collects if at least reclaimDrop connections, and half of those open at the peak,
// have closed since the last collection, and once more at the check after such a collection.
func (r *reclaimer) check() {
	open := r.open()
	if r.again {
		r.gc()
		r.again, r.peak = false, open
		return
	}
	r.peak = max(r.peak, open)
	if drop := r.peak - open; drop >= reclaimDrop && drop >= r.peak/2 {
		r.gc()
		r.again, r.peak = true, open
	}
}

// newReclaimer returns the reclaimer of the network's stack, or nil with -net kernel, whose
// connections' buffers are the kernel's.
func newReclaimer(n *Network) *reclaimer {
	s := n.Stack()
	if s == nil {
		return nil
	}
	return &reclaimer{open: func() uint64 { return s.Stats().TCP.Established }, gc: runtime.GC}
}
