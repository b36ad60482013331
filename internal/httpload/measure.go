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
// a socket error other than a timeout, read too few or too many bytes for its requests to
// have had bodies of body bytes, or reported a mean latency its request rate cannot have had.
// inFlight is the most requests the client keeps in flight (one per wrk connection, one per
// h2load stream); the client also counts what it read of the responses still in flight when
// it stopped. Timeouts (no response within 2 s) are logged, not failed: on a loaded machine
// they can come from scheduling alone, and the figures show their cost.
func Check(t testing.TB, r Result, out string, body, inFlight int) {
	t.Helper()
	require.NoError(t, verify(r, body, inFlight), "client: %s", out)
	if r.Timeouts > 0 {
		t.Logf("%d requests timed out: %s", r.Timeouts, out)
	}
}

// littleSlack is how far the mean number of requests in flight that a run's figures imply
// (Little's law: request rate × mean latency) may exceed the most the client can keep in
// flight before the run is rejected. Rate and mean come from the same run and should agree
// to within rounding; 10% leaves room for wrk's rounding of the mean and for the few
// requests cut off at the start and end of a run.
const littleSlack = 1.10

// verify is Check's judgement of r: nil if the run's figures can be quoted, else why not.
func verify(r Result, body, inFlight int) error {
	if r.Errors != "" {
		return fmt.Errorf("errors: %s", r.Errors)
	}
	// Each response is the body plus a few hundred bytes of headers (wrk counts them, h2load
	// does not).
	const headers = 512
	least := float64(r.Requests) * float64(body)
	most := float64(r.Requests+int64(inFlight)) * float64(body+headers)
	if r.ReadBytes+r.ReadSlack < least || r.ReadBytes-r.ReadSlack > most {
		return fmt.Errorf("%.0f bytes read for %d responses with %d-byte bodies, %d in flight at most",
			r.ReadBytes, r.Requests, body, inFlight)
	}
	// A client that keeps at most inFlight requests in flight cannot average more, so
	// rate × mean latency ≤ inFlight. wrk breaks this when a run stalls: it corrects its
	// latency statistics for coordinated omission (stats_correct) by adding, for every
	// response slower than twice the run's mean interval per connection, a sample for each
	// interval it waited, so its mean, p50 and p99 then count requests that were never made.
	// Such a run's latency figures, and the rate it reached between stalls, are not quoted.
	if implied := r.ReqPerSec * r.Mean.Seconds(); implied > littleSlack*float64(inFlight) {
		return fmt.Errorf("%.0f requests/s at a mean latency of %v imply %.1f requests in flight on average, "+
			"more than the %d the client can have (Little's law, %.0f%% slack): the client's latency "+
			"statistics include requests it never sent (wrk's coordinated-omission correction after a stall)",
			r.ReqPerSec, r.Mean, implied, inFlight, (littleSlack-1)*100)
	}
	return nil
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
