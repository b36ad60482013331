package allocs

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/israce"
)

// sink keeps what the test functions allocate reachable, so the compiler cannot keep it on
// the stack.
var sink []byte

// TestMeasureCountsEveryAllocation checks the reason the package exists: a function that
// allocates on nine calls in ten is 0 for testing.AllocsPerRun's integer division and 900 in
// 1000 calls here.
func TestMeasureCountsEveryAllocation(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	i := 0
	f := func() {
		i++
		if i%10 != 0 {
			sink = make([]byte, 64)
		}
	}
	require.Zero(t, testing.AllocsPerRun(10, f), "AllocsPerRun rounds 0.9 per call down")
	r := Measure(1000, 0, f)
	assert.Equal(t, uint64(900), r.Mallocs)
	assert.Equal(t, 1000, r.Calls)
	assert.Equal(t, "900 mallocs in 1000 calls (0.9 per call)", r.String())
	assert.Equal(t, uint64(900), Count(1000, f))
}

// TestMeasureZero checks that a function that allocates nothing measures exactly 0.
func TestMeasureZero(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	buf := make([]byte, 64)
	r := Measure(1000, 0, func() { buf[0]++ })
	assert.Zero(t, r.Mallocs)
	assert.Equal(t, "0 mallocs in 1000 calls", r.String())
}

// TestMeasureKeepsTheBestAttempt checks that allocations in one attempt only (another
// goroutine's, say) do not count when a later attempt has none.
func TestMeasureKeepsTheBestAttempt(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	calls := 0
	r := Measure(100, 0, func() {
		calls++
		if calls <= 150 { // the warm-up call and the first attempt, half of the second
			sink = make([]byte, 64)
		}
	})
	assert.Zero(t, r.Mallocs)
	assert.Equal(t, 1+3*100, calls, "stops at the first attempt within the bound")

	calls = 0
	r = Measure(100, 0, func() { calls++; sink = make([]byte, 64) })
	assert.Equal(t, uint64(100), r.Mallocs)
	assert.Equal(t, 1+attempts*100, calls, "tries five times before reporting")
}

// TestResultPer checks the per-unit form of a batch's result.
func TestResultPer(t *testing.T) {
	assert.Equal(t, "0 mallocs in 6400 frames (200 calls of 32)", Result{Calls: 200}.Per(32, "frames").String())
	assert.Equal(t, "4 mallocs in 6400 frames (200 calls of 32; 0.000625 per frame)",
		Result{Mallocs: 4, Calls: 200}.Per(32, "frames").String())
	assert.Equal(t, "24 mallocs in 64 MiB (0.375 per MiB)", Result{Mallocs: 24, Calls: 64}.Per(1, "MiB").String())
	assert.Equal(t, "0 mallocs in 500 requests", Result{Calls: 500}.Per(1, "requests").String())
}

// TestNoGCPrimesSudogs checks that after NoGC (as in Measure and Count, which turn the
// collector off the same way), blocking many goroutines at once costs the runtime no new
// blocked-goroutine records: the first such burst allocates about what a second one does (260
// mallocs: the goroutines' closures and the channels). Without the priming the first burst
// also allocates most of its 512 sudogs (600 to 1,000 mallocs). The allowance is for the
// runtime's own stray allocations, one now and then. The bursts are counted with count, which
// does not turn the collector off (and prime) again.
func TestNoGCPrimesSudogs(t *testing.T) {
	runtime.GC() // empties the central sudog cache, as an earlier test's collection would
	NoGC(t)
	burst := func() { primeSudogs(primedSelects / 2) }
	first := count(1, burst)
	second := count(1, burst)
	const allowance = 16
	assert.LessOrEqual(t, first, second+allowance, "the first burst allocated sudogs NoGC should have primed")
}
