package httpload

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestVerify checks which client runs Check accepts, among them runs whose request rate and
// mean latency break Little's law: a client with n requests in flight at most cannot average
// more than n.
func TestVerify(t *testing.T) {
	// wrkRun is a clean wrk run of d at rate requests/s with mean latency mean, whose responses
	// had bodies of body bytes and 250 bytes of headers.
	wrkRun := func(rate float64, mean time.Duration, body int, d time.Duration) Result {
		n := int64(rate * d.Seconds())
		return Result{ReqPerSec: rate, Requests: n, ReadBytes: float64(n) * float64(body+250), ReadSlack: 5 << 10, Mean: mean}
	}
	for _, tc := range []struct {
		name     string
		r        Result
		body     int
		inFlight int
		reject   string // a fragment of the error; "" accepts
	}{
		// The committed bench run's nginx 64 KiB × 1 connection cell: 27 requests in flight on
		// average over one connection. A 40 ms stall in some responses, multiplied by wrk's
		// coordinated-omission correction.
		{"nginx 64 KiB × 1 conn", wrkRun(3757, 7330*time.Microsecond, 64<<10, 2*time.Second), 64 << 10, 1, "imply 27.5 requests in flight"},
		// The same run's httpserve 4 KiB × 50 cell: 41.9 in flight of 50.
		{"httpserve 4 KiB × 50 conns", wrkRun(161818, 259200*time.Nanosecond, 4<<10, 2*time.Second), 4 << 10, 50, ""},
		// The same run's nginx 64 KiB × 50 cell, 97 in flight of 50.
		{"nginx 64 KiB × 50 conns", wrkRun(43733, 2220*time.Microsecond, 64<<10, 2*time.Second), 64 << 10, 50, "imply 97.1 requests in flight"},
		// One connection busy all the time; at the slack's edge; just past it.
		{"saturated", wrkRun(10000, 100*time.Microsecond, 4<<10, 2*time.Second), 4 << 10, 1, ""},
		{"at the slack's edge", wrkRun(10000, 110*time.Microsecond, 4<<10, 2*time.Second), 4 << 10, 1, ""},
		{"12% over", wrkRun(10000, 112*time.Microsecond, 4<<10, 2*time.Second), 4 << 10, 1, "Little's law"},
		// h2load over 50 connections × 10 streams (the committed HTTP/2 row): 496 of 500.
		{"h2load 50 × 10 streams", wrkRun(21200, 23400*time.Microsecond, 4<<10, 3*time.Second), 4 << 10, 500, ""},
		// No mean reported: nothing to compare.
		{"no mean", wrkRun(10000, 0, 4<<10, 2*time.Second), 4 << 10, 1, ""},
		{"errors", Result{ReqPerSec: 1, Requests: 1, ReadBytes: 4096, Errors: "Non-2xx or 3xx responses: 7"}, 4 << 10, 1, "Non-2xx"},
		{"short bodies", wrkRun(10000, 90*time.Microsecond, 1<<10, 2*time.Second), 4 << 10, 1, "bytes read"},
		{"long bodies", wrkRun(10000, 90*time.Microsecond, 64<<10, 2*time.Second), 4 << 10, 1, "bytes read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(tc.r, tc.body, tc.inFlight)
			if err == nil {
				err = littlesLaw(tc.r, tc.inFlight)
			}
			if tc.reject == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.reject)
		})
	}
}

// TestReportEmptyRun checks that a run that completed no request reports its zero rate and
// that it was empty, and no figure per request that a zero would flatter.
func TestReportEmptyRun(t *testing.T) {
	var summary string
	res := testing.Benchmark(func(b *testing.B) {
		summary = Report(b, "tap", Measurement{Result: Result{ReadBytes: 270 << 20, Timeouts: 3}, PeakRSS: 120 << 20})
	})
	require.Contains(t, res.Extra, "tap-req/s")
	require.Zero(t, res.Extra["tap-req/s"])
	require.Equal(t, 1.0, res.Extra["tap-empty-runs"])
	require.Equal(t, 120.0, res.Extra["tap-rss-MiB"])
	require.Equal(t, 3.0, res.Extra["tap-timeouts"])
	for _, unit := range []string{"tap-cpu-µs/req", "tap-machine-cpu-µs/req", "tap-mean-ms", "tap-p99-ms", "tap-latency-withheld"} {
		require.NotContains(t, res.Extra, unit)
	}
	require.Contains(t, summary, "no request completed (270.0 MiB read)")
}

// TestLongPoint checks which matrix points PointDuration lengthens: 1 MiB × 500 alone.
func TestLongPoint(t *testing.T) {
	for _, sz := range Sizes {
		for _, c := range Conns {
			long := sz.Bytes == 1<<20 && c == 500
			require.Equal(t, long, LongPoint(sz, c), "%s × %d", sz.Name, c)
			want := 3 * time.Second
			if long {
				want = 10 * time.Second
			}
			require.Equal(t, want, PointDuration(3*time.Second, sz, c), "%s × %d", sz.Name, c)
		}
	}
}
