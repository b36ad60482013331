package appliance

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/unikit/unikit/netstack"
)

// Handing memory back once a burst is over. When many connections close (slow readers cut
// off, clients gone, a load that ends), their buffers become garbage, but the collector runs
// only when allocation brings the heap to its goal, which those buffers set high while they
// were live: an appliance left quiet keeps them resident until the runtime's periodic
// collection two minutes later, gVisor's buffer pools keep what they hold through one more
// collection, and even then the runtime keeps free memory up to about twice the live heap.
// So the appliance looks at its heap every reclaimInterval, and when the heap has stopped
// growing and no collection ran since the last look (nothing will collect it soon) and either holds at least reclaimGarbage more than
// the last collection found live, or at least reclaimConns of the stacks' connections have
// closed since the last collection (what they held died without the heap showing it), or
// reclaimConns fewer goroutines run than at the most since the last collection (the stacks
// of goroutines that ended, such as those of idle connections httpserve parks, go back to
// the heap only at a collection, and the heap's objects never showed them), it collects, and at the next look returns the free memory to the operating system
// (debug.FreeOSMemory, which collects again and so empties the pools too). Under load the
// heap grows between looks, and the runtime's own pacing is left alone.
const (
	// reclaimInterval is how often the heap is looked at.
	reclaimInterval = 2 * time.Second
	// reclaimGarbage is the least garbage worth a collection: what the blog lets its heap
	// grow by between collections anyway.
	reclaimGarbage = 16 << 20
	// reclaimConns is the fewest closed connections, or ended goroutines, worth a collection.
	reclaimConns = 64
	// reclaimGrowth is the most the heap may have grown since the last look for the
	// appliance to count as quiet.
	reclaimGrowth = 1 << 20
	// gcHeadroom is the heap growth between collections the appliance aims at.
	gcHeadroom = 16 << 20
)

// gcPercent returns the GOGC value that gives a heap of live bytes gcHeadroom to grow, between
// 25 (a quarter of the live heap) and 100 (the runtime's default).
func gcPercent(live uint64) int {
	return int(min(100, max(25, 100*gcHeadroom/max(live, 1))))
}

// heapState is what the reclaimer reads: the heap's objects (live or garbage) now, what the
// last collection found live, the collections so far, how many of the stack's connections
// have closed so far, and the goroutines now.
type heapState struct{ objects, live, cycles, closed, goroutines uint64 }

// reclaimer collects garbage and returns free memory when a quiet appliance holds much of it.
type reclaimer struct {
	read    func() heapState
	collect func()            // runtime.GC
	release func()            // debug.FreeOSMemory
	pace    func(percent int) // debug.SetGCPercent, or nil when GOGC is set
	percent int               // what pace set last
	// last and cycles are the heap's objects and the collections at the last look; closed is
	// the connections closed at the last collection; again is set after a collection, for the
	// release at the next look; peakGoroutines is the most goroutines seen since the last
	// collection.
	last, cycles, closed, peakGoroutines uint64
	again                                bool
}

// newReclaimer returns a reclaimer of this process's heap and the network's stacks: the
// appliance's (none with -net kernel, whose connections' buffers are the kernel's) and, with
// -net user, the gateway's, whose relayed connections outlive the appliance's own when their
// host peer reads slowly.
func newReclaimer(n *Network) *reclaimer {
	var stats []func() netstack.Stats
	if s := n.Stack(); s != nil {
		stats = append(stats, s.Stats)
	}
	if u := n.User(); u != nil {
		stats = append(stats, u.Stats)
	}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sched/goroutines:goroutines"}}
	r := &reclaimer{
		read: func() heapState {
			metrics.Read(samples)
			var h heapState
			if samples[0].Value.Kind() == metrics.KindUint64 {
				h.objects = samples[0].Value.Uint64()
			}
			if samples[1].Value.Kind() == metrics.KindUint64 {
				h.live = samples[1].Value.Uint64()
			}
			if samples[2].Value.Kind() == metrics.KindUint64 {
				h.cycles = samples[2].Value.Uint64()
			}
			if samples[3].Value.Kind() == metrics.KindUint64 {
				h.goroutines = samples[3].Value.Uint64()
			}
			for _, st := range stats {
				tcp := st().TCP
				h.closed += tcp.PassiveOpens + tcp.ActiveOpens - tcp.Established
			}
			return h
		},
		collect: runtime.GC,
		release: debug.FreeOSMemory,
	}
	if os.Getenv("GOGC") == "" { // else the operator paces the collector
		r.pace = func(p int) { debug.SetGCPercent(p) }
	}
	return r
}

// run looks at the heap every reclaimInterval until ctx is done.
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

// check looks at the heap once: it releases after a collection it made at the last look, and
// collects if the heap grew less than reclaimGrowth and no collection ran since the last
// look, and the heap holds reclaimGarbage beyond what is live, or reclaimConns connections
// closed, or reclaimConns goroutines ended, since the last collection.
func (r *reclaimer) check() {
	if r.again {
		r.release()
		h := r.read()
		r.again, r.last, r.cycles = false, h.objects, h.cycles
		return
	}
	h := r.read()
	if p := gcPercent(h.live); r.pace != nil && p != r.percent {
		r.pace(p)
		r.percent = p
	}
	quiet := h.objects <= r.last+reclaimGrowth && h.cycles == r.cycles
	r.last, r.cycles = h.objects, h.cycles
	r.peakGoroutines = max(r.peakGoroutines, h.goroutines)
	ended := r.peakGoroutines >= h.goroutines+reclaimConns
	if quiet && (h.objects >= h.live+reclaimGarbage || h.closed >= r.closed+reclaimConns || ended) {
		r.collect()
		r.again, r.closed, r.cycles, r.peakGoroutines = true, h.closed, r.read().cycles, h.goroutines
	}
}
