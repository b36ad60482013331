//go:build linux

package soak

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Mixed runs the mixed load against a fresh appliance serving site: wrk with the mode's
// connections for its duration, the site's four files in the round of mixScript, while the
// appliance is sampled. It checks that no request failed and that resident memory and
// goroutines stayed flat after the warm-up (see Flatness).
func Mixed(t *testing.T, bin string, site *Site, n *Net, m Mode) *MixedResult {
	a := Start(t, bin, n, "-site", site.Dir)
	s := StartSampler(a, m.MixedEvery)
	load := StartLoad(t, a, 2, m.MixedConns, m.MixedFor, "")
	res, out, err := load.Wait()
	samples, serr := s.Stop()
	require.NoError(t, err)
	require.NoError(t, serr)

	r := &MixedResult{Seconds: m.MixedFor.Seconds(), Conns: m.MixedConns, Mix: Mix(),
		Requests: res.Requests, ReqPerSec: res.ReqPerSec,
		P50ms: ms(res.P50), P99ms: ms(res.P99), Failures: Failures(res)}
	for _, smp := range samples {
		if smp.T <= m.MixedFor.Seconds() { // the last ones may follow the load's end
			r.Samples = append(r.Samples, smp)
		}
		r.PeakRSS = max(r.PeakRSS, smp.RSS)
	}
	r.Flatness, err = Judge(r.Samples, m.MixedWarmUp.Seconds())
	require.NoError(t, err)
	t.Logf("%s: %d requests, %.0f/s, p99 %.1f ms, peak RSS %.1f MiB; %s", n.Name, r.Requests, r.ReqPerSec, r.P99ms,
		mib(r.PeakRSS), r.Flatness)
	assert.Empty(t, r.Failures, "failed requests; wrk said:\n%s", out)
	assert.True(t, r.Flatness.Flat, "memory or goroutines grew under steady load: %s", r.Flatness)
	a.Stop(t)
	return r
}

// ms returns d in milliseconds.
func ms[D ~int64](d D) float64 { return float64(d) / 1e6 }

// mib returns n bytes in MiB.
func mib[N ~int64 | ~uint64 | ~float64](n N) float64 { return float64(n) / (1 << 20) }
