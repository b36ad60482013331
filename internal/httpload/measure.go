package httpload

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Measurement is one server's figures under one wrk load.
type Measurement struct {
	Result
	CPUPerRequest time.Duration // the server's CPU time during the run over the requests served
	PeakRSS       int64         // the server's peak resident memory, in bytes, after the run
}

// Measure warms the server whose PID is pid up with one second of l, then loads it with l and
// measures it. body is the size of every response body, which Check verifies.
func Measure(t testing.TB, pid, body int, l Load) Measurement {
	t.Helper()
	warm := l
	warm.Duration = time.Second
	Run(t, warm)
	before := CPUTime(t, pid)
	r, out := Run(t, l)
	used := CPUTime(t, pid) - before
	Check(t, r, out, body)
	return Measurement{Result: r, CPUPerRequest: used / time.Duration(r.Requests), PeakRSS: PeakRSS(t, pid)}
}

// Check fails t if the wrk run whose figures are r and output out saw a non-2xx response,
// a socket error other than a timeout, or a response whose body was not body bytes long.
// Timeouts (no response within 2 s) are logged, not failed: on a loaded machine they can come
// from scheduling alone, and the figures show their cost.
func Check(t testing.TB, r Result, out string, body int) {
	t.Helper()
	require.Empty(t, r.Errors, "wrk: %s", out)
	// Each response is the body plus a few hundred bytes of headers.
	per := r.ReadBytes / float64(r.Requests)
	require.True(t, per > float64(body)*0.99 && per < float64(body)+512,
		"%.0f bytes per response for a %d-byte body; wrk: %s", per, body, out)
	if r.Timeouts > 0 {
		t.Logf("wrk reported %d timeouts: %s", r.Timeouts, out)
	}
}

// Report reports m as metrics of b, each unit prefixed with name ("httpserve-req/s"), and
// returns a one-line summary for the log.
func Report(b *testing.B, name string, m Measurement) string {
	b.ReportMetric(m.ReqPerSec, name+"-req/s")
	b.ReportMetric(float64(m.CPUPerRequest)/1e3, name+"-cpu-µs/req")
	b.ReportMetric(float64(m.P50)/1e6, name+"-p50-ms")
	b.ReportMetric(float64(m.P99)/1e6, name+"-p99-ms")
	b.ReportMetric(float64(m.PeakRSS)/(1<<20), name+"-rss-MiB")
	b.ReportMetric(float64(m.Timeouts), name+"-timeouts")
	return fmt.Sprintf("%s: %.0f requests/s, %.1f µs server CPU per request, p50 %v, p99 %v, peak RSS %.1f MiB, %d timeouts",
		name, m.ReqPerSec, float64(m.CPUPerRequest)/1e3, m.P50, m.P99, float64(m.PeakRSS)/(1<<20), m.Timeouts)
}
