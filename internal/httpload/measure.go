package httpload

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Measurement is one server's figures under one load.
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
	runClient(t, warm) // its figures do not matter, nor whether a response completed in time
	before := CPUTime(t, pid)
	r, out := Run(t, l)
	used := CPUTime(t, pid) - before
	Check(t, r, out, body, l.Conns*max(1, l.Streams))
	return Measurement{Result: r, CPUPerRequest: used / time.Duration(r.Requests), PeakRSS: PeakRSS(t, pid)}
}

// Check fails t if the client run whose figures are r and output out saw a non-2xx response,
// a socket error other than a timeout, or read too few or too many bytes for its requests to
// have had bodies of body bytes. The client also counts what it read of the responses still
// in flight when it stopped, at most inFlight of them (one per wrk connection, one per h2load
// stream). Timeouts (no response within 2 s) are logged, not failed: on a loaded machine they
// can come from scheduling alone, and the figures show their cost.
func Check(t testing.TB, r Result, out string, body, inFlight int) {
	t.Helper()
	require.Empty(t, r.Errors, "client: %s", out)
	// Each response is the body plus a few hundred bytes of headers (wrk counts them, h2load
	// does not).
	const headers = 512
	least := float64(r.Requests) * float64(body)
	most := float64(r.Requests+int64(inFlight)) * float64(body+headers)
	require.True(t, r.ReadBytes+r.ReadSlack >= least && r.ReadBytes-r.ReadSlack <= most,
		"%.0f bytes read for %d responses with %d-byte bodies, %d in flight at most: %s", r.ReadBytes, r.Requests, body, inFlight, out)
	if r.Timeouts > 0 {
		t.Logf("%d requests timed out: %s", r.Timeouts, out)
	}
}

// Report reports m as metrics of b, each unit prefixed with name ("httpserve-req/s"), and
// returns a one-line summary for the log. Latency percentiles are reported when the client
// gave them (wrk), the mean always.
func Report(b *testing.B, name string, m Measurement) string {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(m.ReqPerSec, name+"-req/s")
	b.ReportMetric(float64(m.CPUPerRequest)/1e3, name+"-cpu-µs/req")
	b.ReportMetric(ms(m.Mean), name+"-mean-ms")
	lat := fmt.Sprintf("mean %v", m.Mean)
	if m.P99 > 0 {
		b.ReportMetric(ms(m.P50), name+"-p50-ms")
		b.ReportMetric(ms(m.P99), name+"-p99-ms")
		lat += fmt.Sprintf(", p50 %v, p99 %v", m.P50, m.P99)
	}
	b.ReportMetric(float64(m.PeakRSS)/(1<<20), name+"-rss-MiB")
	b.ReportMetric(float64(m.Timeouts), name+"-timeouts")
	return fmt.Sprintf("%s: %.0f requests/s, %.1f µs server CPU per request, %s, peak RSS %.1f MiB, %d timeouts",
		name, m.ReqPerSec, float64(m.CPUPerRequest)/1e3, lat, float64(m.PeakRSS)/(1<<20), m.Timeouts)
}
