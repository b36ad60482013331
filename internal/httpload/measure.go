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
	// CPUPerRequest is the CPU time of the server's processes (with the children they waited
	// for) during the run, over the requests served.
	//
	// It counts the kernel's TCP work only where it ran in the server's context. On loopback
	// a segment's transmission, and the receiving socket's processing of it, run in softirq
	// on the CPU of whichever process set them off, and this kernel's tick-based accounting
	// (no IRQ_TIME_ACCOUNTING) charges softirq time to the task it interrupts: a server
	// that queues a whole response at once (nginx's sendfile) leaves most of it to be pushed
	// out by the client's ACKs, in the client's time. Compare servers on
	// CPUPerRequest+ClientCPUPerRequest, the work of serving and receiving a request wherever
	// the kernel did it, as well.
	CPUPerRequest time.Duration
	// ClientCPUPerRequest is the client process's own CPU time over its run, over the
	// requests served: with CPUPerRequest, the benchmark's work without the rest of the
	// machine's (softirq work deferred to ksoftirqd is in neither).
	ClientCPUPerRequest time.Duration
	// MachineCPUPerRequest is the CPU time the whole machine spent during the run (every CPU's
	// user, nice, system, irq and softirq time in /proc/stat: the client, the server, the
	// kernel's work for both, and anything else running), over the requests served. On a
	// machine busy with other work it is that work's rate over the server's: a slower server
	// is charged more of it.
	MachineCPUPerRequest time.Duration
	PeakRSS              int64 // the first server process's peak resident memory, in bytes, after the run
}

// Measure warms the server up with one second of l, then loads it with l and measures it.
// pids are the processes whose CPU time is the server's: the server first (its peak resident
// memory is reported), then any that work for its requests beside it (testpmd forwarding
// its frames). body is the size of every response body; the run is judged by Check.
func Measure(t testing.TB, pids []int, body int, l Load) Measurement {
	t.Helper()
	warm := l
	warm.Duration = time.Second
	runClient(t, warm) // its figures do not matter, nor whether a response completed in time
	meter := StartCPU(t, pids...)
	r, out := Run(t, l)
	machine, used := meter.Stop()
	r = Check(t, r, out, body, l.Conns*max(1, l.Streams))
	m := Measurement{Result: r, PeakRSS: PeakRSS(t, pids[0])}
	if n := time.Duration(r.Requests); n > 0 { // none only with Load.AllowNone
		m.CPUPerRequest, m.ClientCPUPerRequest, m.MachineCPUPerRequest = used/n, r.ClientCPU/n, machine/n
	}
	return m
}

// Check judges the client run whose figures are r and output out, and returns r as it may be
// quoted. It fails t if the client saw a non-2xx response or a socket error other than a
// timeout, or read too few or too many bytes for its requests to have had bodies of body
// bytes. inFlight is the most requests the client keeps in flight (one per wrk connection,
// one per h2load stream); the client also counts what it read of the responses still in
// flight when it stopped.
//
// When the rate and the mean latency break Little's law (see littlesLaw), the client's
// latency statistics count requests it never sent, and they are withheld: P50, P99 and
// Mean are cleared and LatencyWithheld says why. The rate, the bytes and the CPU a
// measurement counts are what was done, and stay. Timeouts (no response within 2 s) are
// logged, not failed: on a loaded machine they can come from scheduling alone, and the
// figures show their cost.
func Check(t testing.TB, r Result, out string, body, inFlight int) Result {
	t.Helper()
	require.NoError(t, verify(r, body, inFlight), "client: %s", out)
	if err := littlesLaw(r, inFlight); err != nil {
		t.Logf("latency figures withheld: %v", err)
		r.P50, r.P99, r.Mean, r.LatencyWithheld = 0, 0, 0, err.Error()
	}
	if r.Timeouts > 0 {
		t.Logf("%d requests timed out: %s", r.Timeouts, out)
	}
	return r
}

// littleSlack is how far the mean number of requests in flight that a run's figures imply
// (Little's law: request rate × mean latency) may exceed the most the client can keep in
// flight before the run's latency figures are withheld. Rate and mean come from the same run and should agree
// to within rounding; 10% leaves room for wrk's rounding of the mean and for the few
// requests cut off at the start and end of a run.
const littleSlack = 1.10

// verify is Check's judgement of r's counts: nil if the run did what it should have, else
// what went wrong.
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
	return nil
}

// littlesLaw is nil when r's rate and mean latency agree with Little's law, else why not. A
// client that keeps at most inFlight requests in flight cannot average more, so rate × mean
// latency ≤ inFlight. wrk breaks this whenever responses are uneven: it corrects its latency
// statistics for coordinated omission (stats_correct) by adding, for every response slower
// than twice the run's mean interval per connection, a sample for each interval it waited,
// so that its mean, p50 and p99 count requests that were never made. A stall (a delayed ACK,
// a descheduled client) does it, and so, at 50 connections and tens of thousands of requests
// a second, does an ordinary spread of response times.
func littlesLaw(r Result, inFlight int) error {
	if implied := r.ReqPerSec * r.Mean.Seconds(); implied > littleSlack*float64(inFlight) {
		return fmt.Errorf("%.0f requests/s at a mean latency of %v imply %.1f requests in flight on average, "+
			"more than the %d the client can have (Little's law, %.0f%% slack): the client's latency "+
			"statistics include requests it never sent (wrk's coordinated-omission correction)",
			r.ReqPerSec, r.Mean, implied, inFlight, (littleSlack-1)*100)
	}
	return nil
}

// Report reports m as metrics of b, each unit prefixed with name ("httpserve-req/s"), and
// returns a one-line summary for the log. The mean latency and its percentiles (wrk gives
// them, h2load the mean alone) are reported unless Check withheld them; latency-withheld is
// 1 then, 0 otherwise. A run that completed no request (0 requests/s, which only
// Load.AllowNone lets through) reports that rate, empty-runs 1, its memory and timeouts, and
// no figure per request: it has none, and a zero would pass for the best of them.
func Report(b *testing.B, name string, m Measurement) string {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(m.ReqPerSec, name+"-req/s")
	if m.ReqPerSec == 0 {
		b.ReportMetric(1, name+"-empty-runs")
		b.ReportMetric(float64(m.PeakRSS)/(1<<20), name+"-rss-MiB")
		b.ReportMetric(float64(m.Timeouts), name+"-timeouts")
		return fmt.Sprintf("%s: no request completed (%.1f MiB read), peak RSS %.1f MiB, %d timeouts",
			name, m.ReadBytes/(1<<20), float64(m.PeakRSS)/(1<<20), m.Timeouts)
	}
	b.ReportMetric(float64(m.CPUPerRequest)/1e3, name+"-cpu-µs/req")
	b.ReportMetric(float64(m.ClientCPUPerRequest)/1e3, name+"-client-cpu-µs/req")
	b.ReportMetric(float64(m.CPUPerRequest+m.ClientCPUPerRequest)/1e3, name+"-pair-cpu-µs/req")
	b.ReportMetric(float64(m.MachineCPUPerRequest)/1e3, name+"-machine-cpu-µs/req")
	lat := "latency withheld (Little's law)"
	withheld := 1.0
	if m.LatencyWithheld == "" {
		withheld = 0
		b.ReportMetric(ms(m.Mean), name+"-mean-ms")
		lat = fmt.Sprintf("mean %v", m.Mean)
		if m.P99 > 0 {
			b.ReportMetric(ms(m.P50), name+"-p50-ms")
			b.ReportMetric(ms(m.P99), name+"-p99-ms")
			lat += fmt.Sprintf(", p50 %v, p99 %v", m.P50, m.P99)
		}
	}
	b.ReportMetric(withheld, name+"-latency-withheld")
	b.ReportMetric(float64(m.PeakRSS)/(1<<20), name+"-rss-MiB")
	b.ReportMetric(float64(m.Timeouts), name+"-timeouts")
	return fmt.Sprintf("%s: %.0f requests/s, %.1f µs server CPU, %.1f µs client CPU and %.1f µs machine CPU per request, %s, peak RSS %.1f MiB, %d timeouts",
		name, m.ReqPerSec, float64(m.CPUPerRequest)/1e3, float64(m.ClientCPUPerRequest)/1e3, float64(m.MachineCPUPerRequest)/1e3, lat, float64(m.PeakRSS)/(1<<20), m.Timeouts)
}
