//go:build linux

package soak

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Mixed runs the mixed load against a fresh appliance serving site: wrk with the mode's
// connections for its duration, the site's four files in the round of mixScript, while the
// appliance is sampled. It checks that no request failed, that resident memory and goroutines
// stayed flat after the warm-up (see Flatness: the full soak holds both its means and medians
// and its floors to the slack, the short one its floors), and that once wrk has gone the
// appliance settles back to the baseline it had, warmed, before the load: no connection left,
// goroutines and resident memory back (see awaitSettled).
func Mixed(t *testing.T, bin string, site *Site, n *Net, m Mode) *MixedResult {
	a := Start(t, bin, n, "-site", site.Dir)
	base := a.Baseline(t)
	s := StartSampler(a, m.MixedEvery)
	load := StartLoad(t, a, 2, m.MixedConns, m.MixedFor, "")
	res, out, err := load.Wait()
	samples, serr := s.Stop()
	require.NoError(t, err)
	require.NoError(t, serr)

	r := &MixedResult{Seconds: m.MixedFor.Seconds(), Conns: m.MixedConns, Mix: Mix(),
		Requests: res.Requests, ReqPerSec: res.ReqPerSec,
		P50ms: ms(res.P50), P99ms: ms(res.P99), Failures: Failures(res),
		BaselineRSS: base.RSS, BaselineRoutines: base.Goroutines}
	for _, smp := range samples {
		if smp.T <= m.MixedFor.Seconds() { // the last ones may follow the load's end
			r.Samples = append(r.Samples, smp)
		}
		r.PeakRSS = max(r.PeakRSS, smp.RSS)
	}
	r.Flatness, err = Judge(r.Samples, m.MixedWarmUp.Seconds())
	require.NoError(t, err)
	after, settledIn := awaitSettled(t, a, base, m.MixedConns)
	r.AfterRSS, r.AfterRoutines, r.AfterConns, r.SettledIn = after.RSS, after.Goroutines, after.Conns, settledIn
	t.Logf("%s: %d requests, %.0f/s, p99 %.1f ms, peak RSS %.1f MiB; %s; after the load: RSS %.1f → %.1f MiB, goroutines %d → %d, %d connections left, in %.1f s",
		n.Name, r.Requests, r.ReqPerSec, r.P99ms, mib(r.PeakRSS), r.Flatness,
		mib(base.RSS), mib(r.AfterRSS), base.Goroutines, r.AfterRoutines, r.AfterConns, r.SettledIn)
	assert.Empty(t, r.Failures, "failed requests; wrk said:\n%s", out)
	// A short run on a shared machine has a few samples, which a late collection or a pile of
	// timers' goroutines while the process waited for a core can lift: only the floors decide
	// there. What a leak leaves behind, the settling below sees in either version.
	if m.Name == Full.Name {
		assert.True(t, r.Flatness.Flat, "memory or goroutines grew under steady load: %s", r.Flatness)
	}
	assert.True(t, r.Flatness.FloorFlat, "the floor of memory or goroutines rose under steady load: %s", r.Flatness)
	assert.Zero(t, r.AfterConns, "connections the stack kept after the load")
	assert.LessOrEqual(t, r.AfterRoutines, base.Goroutines+settledGoroutines, "goroutines left after the load")
	assert.LessOrEqual(t, r.AfterRSS, base.RSS+returnSlack(m.MixedConns), "memory did not return within %v of the load", ReturnWait)
	a.Stop(t)
	return r
}

// ms returns d in milliseconds.
func ms[D ~int64](d D) float64 { return float64(d) / 1e6 }

// mib returns n bytes in MiB.
func mib[N ~int64 | ~uint64 | ~float64](n N) float64 { return float64(n) / (1 << 20) }
