// Package allocs counts the heap allocations a piece of code makes, exactly, for tests that
// assert that a hot path does not allocate, or allocates a stated number of times.
//
// A count is the difference of runtime.MemStats.Mallocs read once before a run of calls and
// once after it: every heap object the process allocated in between, however small, on
// whatever goroutine. testing.AllocsPerRun reads the same counter but divides it by the number
// of calls in integers, so a path that allocates nine times in ten calls measures 0; here the
// total is kept and reported ("3 mallocs in 1000 calls"), and a test asserts on it.
//
// The counter is the whole process's, so anything else that allocates during the run counts
// too. What can, and how [Measure] guards against it:
//
//   - Goroutines the measured code hands work to (a link's reader, the stack's TCP
//     processors, a server's connection goroutine). Their allocations are the call's own
//     cost and are meant to count. GOMAXPROCS is therefore left alone: with one P, as
//     testing.AllocsPerRun sets, those goroutines still run whenever the caller blocks, and
//     the stack batches its work differently than it does in production.
//   - Goroutines unrelated to the call: a server an earlier test left running, a DHCP
//     client's timer, the runtime itself. Measure makes up to five attempts and keeps the
//     one with the fewest allocations, stopping at the first that meets the caller's bound.
//     A path that allocates on every call, or once in ten, shows it in every attempt; a stray
//     allocation elsewhere seldom lands in all five. Tests that measure do not call
//     t.Parallel.
//   - Garbage collection. A collection empties every sync.Pool, and refilling the pools
//     (gVisor's buffers, a link's scratch) allocates, in a quantity that depends on when the
//     collector happened to run, not on the path. Measure turns the collector off for the
//     runs (debug.SetGCPercent(-1), which also waits for a cycle in progress to end) and back
//     on afterwards, so no pool is emptied in the middle. In production a path that does not
//     allocate does not trigger collections either. A collection just before the runs
//     leaves pools to refill for a while; a test with a long warm-up holds the collector off
//     through it with [NoGC]. The runtime's cache of blocked-goroutine records, which a
//     collection empties too, is filled again whenever the collector is turned off.
//   - Lazy first-use work (a pool's first item, a slice grown once). Measure makes one
//     warm-up call before it counts; callers whose steady state takes longer to reach warm
//     up themselves.
//
// The race detector changes allocation counts (sync.Pool drops a quarter of what it is given
// under -race), so tests that measure a path through a pool skip under it (internal/israce).
package allocs

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

// attempts is how many times Measure counts before it gives up on reaching the bound.
const attempts = 5

// Result is a measurement: Mallocs heap allocations in Calls calls of a function, in the
// attempt that allocated least.
type Result struct {
	// Mallocs is the exact number of heap allocations the process made during the calls.
	Mallocs uint64
	// Calls is how many calls were counted (the warm-up call is not).
	Calls int
	// Batch and Unit are set by [Result.Per] when each call handles a batch of Batch units
	// of work (frames, requests), so that the result reads per unit rather than per call.
	Batch int
	Unit  string
}

// Measure calls f once to warm up, then counts the heap allocations of calls calls of f, up
// to five times, and returns the attempt with the fewest, stopping early at the first attempt
// with at most want. The garbage collector is off while it counts (see the package
// documentation for why and for what else can allocate meanwhile).
func Measure(calls int, want uint64, f func()) Result {
	defer collectorOff()()
	f()
	best := Result{Calls: calls}
	for i := range attempts {
		n := count(calls, f)
		if i == 0 || n < best.Mallocs {
			best.Mallocs = n
		}
		if best.Mallocs <= want {
			break
		}
	}
	return best
}

// Count returns the exact number of heap allocations the process makes during calls calls of
// f, in one attempt with the collector off and no warm-up call. It is for tests whose bound
// depends on what each attempt did (how many frames it sent, say) and that keep the best of
// several attempts themselves.
func Count(calls int, f func()) uint64 {
	defer collectorOff()()
	return count(calls, f)
}

// NoGC turns the garbage collector off until the test ends, for a test that warms a path up
// before it measures: each collection empties the sync.Pools and the runtime's central cache
// of blocked-goroutine records (sudogs), and the path refills them for a while afterwards,
// so a warm-up that a collection interrupts ends before the path is steady. The test should
// allocate little itself meanwhile.
func NoGC(tb testing.TB) {
	tb.Cleanup(collectorOff())
}

// collectorOff turns the garbage collector off, fills the runtime's central sudog cache (see
// [primeSudogs]) and returns the function that turns the collector back on.
//
// The priming is why Measure, Count and NoGC all come through here: a path whose goroutines
// block on one P and wake on another moves sudogs from one P's cache to the other's, and the
// runtime allocates a new one whenever the emptied P finds the central cache empty too, which
// it does after a collection until the other P's cache has filled and spilled over. How long
// that takes depends on how the scheduler places the goroutines, so on a loaded machine (or
// under the race detector, whose heap churn brings collections sooner) a warm-up can end first
// and the count take the runtime's records for the path's.
func collectorOff() (restore func()) {
	old := debug.SetGCPercent(-1)
	primeSudogs(primedSelects)
	return func() { debug.SetGCPercent(old) }
}

// primedSelects is how many goroutines primeSudogs blocks at once. Each holds two sudogs;
// the per-P caches keep at most 128 each and the rest go to the central cache, so on a
// machine with few Ps most of the 1024 end up there.
const primedSelects = 512

// primeSudogs blocks n goroutines at once in a two-case select and then releases them, so
// that the runtime allocates 2n sudogs (acquireSudog in runtime/proc.go) and, as they are
// released, keeps in its central cache those the per-P caches cannot hold. Only a collection
// empties the central cache.
func primeSudogs(n int) {
	var started sync.WaitGroup
	var done sync.WaitGroup
	release, never := make(chan struct{}), make(chan struct{})
	started.Add(n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			started.Done()
			select {
			case <-release:
			case <-never:
			}
		}()
	}
	started.Wait()
	// The goroutines go from Done to their select without blocking; a moment lets the last
	// ones reach it, so that all hold their sudogs together.
	time.Sleep(time.Millisecond)
	close(release)
	done.Wait()
}

// Start begins an exact count of a benchmark's heap allocations. The function it returns,
// called once the work is done, reports the process's allocations since Start divided by
// units as the metric "mallocs/<unit>" (say "mallocs/frame"). The testing package's
// allocs/op is an integer division, so a benchmark that allocates once every ten frames
// shows 0 allocs/op; this metric shows 0.1. The collector runs as usual: the figure includes
// what refilling pools after a collection costs.
func Start(b *testing.B) (report func(units int64, unit string)) {
	before := new(runtime.MemStats)
	runtime.ReadMemStats(before)
	return func(units int64, unit string) {
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if units > 0 {
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(units), "mallocs/"+unit)
		}
	}
}

// count reads the allocation counter around calls calls of f. Both MemStats live on the
// heap before the first read if they escape, so reading them allocates nothing in between.
func count(calls int, f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		f()
	}
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

// Per says that each call handled a batch of batch units of work named unit (say 32
// "frames"), so that the result is reported per unit.
func (r Result) Per(batch int, unit string) Result {
	r.Batch, r.Unit = batch, unit
	return r
}

// String reports the total and what it was counted over: "0 mallocs in 1000 calls", or,
// after Per, "3 mallocs in 6400 frames (200 calls of 32; 0.000469 per frame)", or, when each
// call is one unit, "24 mallocs in 64 MiB (0.375 per MiB)".
func (r Result) String() string {
	if r.Batch == 0 {
		if r.Mallocs == 0 {
			return fmt.Sprintf("0 mallocs in %d calls", r.Calls)
		}
		return fmt.Sprintf("%d mallocs in %d calls (%.3g per call)", r.Mallocs, r.Calls, float64(r.Mallocs)/float64(r.Calls))
	}
	units := r.Calls * r.Batch
	if r.Batch == 1 {
		if r.Mallocs == 0 {
			return fmt.Sprintf("0 mallocs in %d %s", units, r.Unit)
		}
		return fmt.Sprintf("%d mallocs in %d %s (%.3g per %s)", r.Mallocs, units, r.Unit,
			float64(r.Mallocs)/float64(units), singular(r.Unit))
	}
	if r.Mallocs == 0 {
		return fmt.Sprintf("0 mallocs in %d %s (%d calls of %d)", units, r.Unit, r.Calls, r.Batch)
	}
	return fmt.Sprintf("%d mallocs in %d %s (%d calls of %d; %.3g per %s)", r.Mallocs, units, r.Unit,
		r.Calls, r.Batch, float64(r.Mallocs)/float64(units), singular(r.Unit))
}

// singular drops a plural "s" from a unit's name, for "per frame".
func singular(unit string) string {
	if len(unit) > 1 && unit[len(unit)-1] == 's' {
		return unit[:len(unit)-1]
	}
	return unit
}
