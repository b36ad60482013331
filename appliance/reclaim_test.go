package appliance

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReclaimer feeds the reclaimer heap states: it collects when a quiet heap holds
// reclaimGarbage beyond the live heap or reclaimConns connections have closed since the last
// collection, releases at the next look, and leaves a growing heap, or one the runtime
// collects (an appliance under load), alone.
func TestReclaimer(t *testing.T) {
	const mib = 1 << 20
	var h heapState
	var log []string
	r := recordingReclaimer(&h, &log)
	steps := []struct {
		objects, live, closed uint64
		want                  string // what this look does
	}{
		{20 * mib, 20 * mib, 0, ""},
		{30 * mib, 20 * mib, 0, ""},        // growing
		{45 * mib, 20 * mib, 0, ""},        // growing, 25 MiB of garbage
		{45 * mib, 20 * mib, 0, "collect"}, // quiet now
		{22 * mib, 20 * mib, 0, "release"}, // the next look
		{22 * mib, 20 * mib, 0, ""},        // nothing left to collect
		{37 * mib, 22 * mib, 0, ""},        // growing again
		{37*mib + mib/2, 22 * mib, 0, ""},  // quiet, but 15.5 MiB is too little garbage
		{60 * mib, 40 * mib, 0, ""},        // grown: a bigger live heap
		{60 * mib, 40 * mib, 0, "collect"}, // quiet, 20 MiB beyond the live heap
		{40 * mib, 40 * mib, 0, "release"},
		{40 * mib, 40 * mib, 63, ""},        // 63 connections closed: too few
		{40 * mib, 40 * mib, 64, "collect"}, // 64: what they held died
		{40 * mib, 40 * mib, 64, "release"},
		{50 * mib, 40 * mib, 500, ""},        // many closed, but the heap grows: under load
		{50 * mib, 40 * mib, 500, "collect"}, // quiet again
		{50 * mib, 40 * mib, 500, "release"},
		{70 * mib, 40 * mib, 500, ""},
		{60 * mib, 40 * mib, 500, "gc"},      // the runtime collected since: under load
		{60 * mib, 40 * mib, 500, "collect"}, // quiet
	}
	var cycles uint64
	for i, s := range steps {
		checkStep(t, r, &h, &log, &cycles, i, heapState{objects: s.objects, live: s.live, closed: s.closed}, s.want)
	}
}

// TestReclaimerEndedGoroutines checks that the reclaimer collects, and releases at the next
// look, when reclaimConns goroutines fewer run than at the most since its last collection
// (their stacks return to the heap only at a collection) and the heap is quiet, and not for
// fewer, nor while the heap grows or the runtime collects.
func TestReclaimerEndedGoroutines(t *testing.T) {
	const mib = 1 << 20
	var h heapState
	var log []string
	r := recordingReclaimer(&h, &log)
	steps := []struct {
		objects, goroutines uint64
		want                string
	}{
		{20 * mib, 10, ""},
		{20 * mib, 5010, ""},      // a burst of connections, a goroutine each
		{21 * mib, 5010, ""},      // quiet, none ended
		{21 * mib, 4950, ""},      // 60 ended: too few
		{21 * mib, 10, "collect"}, // 5,000 ended (parked): their stacks are garbage
		{21 * mib, 10, "release"}, // the next look
		{21 * mib, 10, ""},        // nothing ended since
		{21 * mib, 200, ""},
		{30 * mib, 100, ""},        // 100 ended, but the heap grows: under load
		{30 * mib, 100, "collect"}, // quiet
		{30 * mib, 100, "release"},
		{30 * mib, 300, ""},
		{30 * mib, 200, "gc"}, // the runtime collected since
		{30 * mib, 200, "collect"},
	}
	var cycles uint64
	for i, s := range steps {
		checkStep(t, r, &h, &log, &cycles, i, heapState{objects: s.objects, live: 20 * mib, goroutines: s.goroutines}, s.want)
	}
}

// checkStep makes next (its cycles aside) the heap r reads through h, lets r look once and
// requires that it did want: "collect", "release", "" for nothing, or "gc" for nothing while
// the runtime collected since the last look (counted in cycles).
func checkStep(t *testing.T, r *reclaimer, h *heapState, log *[]string, cycles *uint64, i int, next heapState, want string) {
	t.Helper()
	if want == "gc" { // the runtime's own collection: nothing for the reclaimer to do
		*cycles++
		want = ""
	}
	next.cycles = *cycles
	*h = next
	*log = nil
	r.check()
	var wantLog []string
	if want != "" {
		wantLog = []string{want}
	}
	require.Equal(t, wantLog, *log, "step %d", i)
}

// TestGCPacing checks the collector's target the reclaimer sets: gcHeadroom of growth, between
// a quarter of the live heap and all of it, set again only when it changes.
func TestGCPacing(t *testing.T) {
	const mib = 1 << 20
	require.Equal(t, 100, gcPercent(0))
	require.Equal(t, 100, gcPercent(8*mib))
	require.Equal(t, 100, gcPercent(16*mib))
	require.Equal(t, 50, gcPercent(32*mib))
	require.Equal(t, 25, gcPercent(64*mib))
	require.Equal(t, 25, gcPercent(1<<30))

	var set []int
	h := heapState{live: 32 * mib, objects: 32 * mib}
	r := &reclaimer{read: func() heapState { return h }, collect: func() {}, release: func() {},
		pace: func(p int) { set = append(set, p) }}
	r.check()
	r.check()
	h.live = 64 * mib
	r.check()
	require.Equal(t, []int{50, 25}, set)
}

// recordingReclaimer returns a reclaimer that reads *h and appends "collect" and "release" to
// *log as it does them.
func recordingReclaimer(h *heapState, log *[]string) *reclaimer {
	return &reclaimer{read: func() heapState { return *h },
		collect: func() { *log = append(*log, "collect") },
		release: func() { *log = append(*log, "release") }}
}
