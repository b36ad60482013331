package httpload

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// Load is one client run: where it runs and how hard it loads the server. The client is wrk
// (HTTP/1.1), or h2load (HTTP/2) when Streams is set.
type Load struct {
	URL      string
	Threads  int           // -t; 0 means 1; at most Conns (wrk needs a connection per thread)
	Conns    int           // -c: keep-alive connections
	Streams  int           // h2load -m: concurrent streams per connection; 0 means wrk
	Duration time.Duration // wrk -d, whole seconds; 0 means 1 s
	CPUs     string        // taskset -c list for wrk; "" leaves it unpinned
	NS       *netns.NS     // namespace wrk runs in; nil means this one
	// AllowNone makes a run that completed no request a result (0 requests/s) rather than a
	// failure: at 1 MiB × 500 a slow server's responses can all outlast a short run.
	AllowNone bool
}

// Result is what one wrk run reported.
type Result struct {
	ReqPerSec float64       // "Requests/sec:"
	Requests  int64         // "N requests in ..."
	ReadBytes float64       // "..., X read" in bytes (h2load: the response bodies' "data")
	ReadSlack float64       // how far ReadBytes may be from the true count: wrk rounds it to two decimals of its unit
	P50, P99  time.Duration // "Latency Distribution" (wrk --latency)
	Mean      time.Duration // mean latency ("Latency" of wrk's thread stats)
	Errors    string        // "Non-2xx or 3xx responses:" and socket errors other than timeouts
	Timeouts  int64         // requests without a response within wrk's timeout (2 s)
	// LatencyWithheld, when not empty, says why P50, P99 and Mean were cleared (see Check).
	LatencyWithheld string
	// ClientCPU is the client process's own user and system CPU time over its run (its
	// rusage), which includes the kernel's work done in its context (see Measurement).
	ClientCPU time.Duration
}

// Run runs wrk (with --latency) or h2load as l says, and returns its figures and its output.
// It fails t if the client fails, prints no figures or served no request; socket errors and
// non-2xx responses are left in Result.Errors for the caller to judge.
func Run(t testing.TB, l Load) (Result, string) {
	t.Helper()
	client, out, cpu, err := runClient(t, l)
	require.NoError(t, err, "%s: %s", client, out)
	parse := Parse
	if l.Streams > 0 {
		parse = ParseH2
	}
	r, err := parse(out)
	require.NoError(t, err, "%s: %s", client, out)
	if !l.AllowNone {
		require.NotZero(t, r.Requests, "%s: %s", client, out)
	}
	r.ClientCPU = cpu
	return r, out
}

// runClient runs wrk or h2load as l says and returns the client's name, its output, the CPU
// time it used and the error of running it. taskset and `ip netns exec` exec the client in
// place, so the process waited for is the client.
func runClient(t testing.TB, l Load) (client, out string, cpu time.Duration, err error) {
	t.Helper()
	secs := max(1, int(l.Duration/time.Second))
	var args []string
	if l.Streams > 0 {
		args = h2loadArgs(peers.Program(t, "h2load", "nghttp2-client"), l, secs)
	} else {
		args = []string{peers.Program(t, "wrk", "wrk"), "-t" + strconv.Itoa(max(1, min(l.Threads, l.Conns))), "-c" + strconv.Itoa(l.Conns),
			"-d" + strconv.Itoa(secs) + "s", "--latency", l.URL}
	}
	client = args[0]
	if l.CPUs != "" {
		args = append([]string{peers.Program(t, "taskset", "util-linux"), "-c", l.CPUs}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if l.NS != nil {
		cmd = l.NS.Command(ctx, args[0], args[1:]...)
	} else {
		cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	}
	b, err := cmd.CombinedOutput()
	if ps := cmd.ProcessState; ps != nil {
		cpu = ps.UserTime() + ps.SystemTime()
	}
	return client, string(b), cpu, err
}

var (
	reReqPerSec = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	reRequests  = regexp.MustCompile(`(?m)^\s*(\d+) requests in [0-9.]+\w+, ([0-9.]+)([KMGT]?B) read\s*$`)
	reLatency   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	reMean      = regexp.MustCompile(`(?m)^\s+Latency\s+([0-9.]+)(us|ms|s|m)\s`)
	reErrors    = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses:.*)$`)
	reSocket    = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$`)
)

// latencyUnits are the units wrk prints latencies in.
var latencyUnits = map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond,
	"s": time.Second, "m": time.Minute}

// Parse extracts the figures from wrk's standard output.
func Parse(out string) (Result, error) {
	var r Result
	m := reReqPerSec.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec line in wrk output")
	}
	var err error
	if r.ReqPerSec, err = strconv.ParseFloat(m[1], 64); err != nil {
		return r, fmt.Errorf("requests/sec %q: %w", m[1], err)
	}
	if m = reRequests.FindStringSubmatch(out); m == nil {
		return r, fmt.Errorf("no 'N requests in' line in wrk output")
	}
	if r.Requests, err = strconv.ParseInt(m[1], 10, 64); err != nil {
		return r, fmt.Errorf("requests %q: %w", m[1], err)
	}
	v, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return r, fmt.Errorf("bytes read %q: %w", m[2], err)
	}
	unit := math.Pow(1024, float64(strings.Index("BKMGT", m[3][:1])))
	r.ReadBytes, r.ReadSlack = v*unit, 0.005*unit
	for _, lm := range reLatency.FindAllStringSubmatch(out, -1) {
		d, err := strconv.ParseFloat(lm[2], 64)
		if err != nil {
			return r, fmt.Errorf("latency %q: %w", lm[2], err)
		}
		lat := time.Duration(d * float64(latencyUnits[lm[3]]))
		if lm[1] == "50" {
			r.P50 = lat
		} else {
			r.P99 = lat
		}
	}
	if mm := reMean.FindStringSubmatch(out); mm != nil {
		d, err := strconv.ParseFloat(mm[1], 64)
		if err != nil {
			return r, fmt.Errorf("mean latency %q: %w", mm[1], err)
		}
		r.Mean = time.Duration(d * float64(latencyUnits[mm[2]]))
	}
	var errs []string
	if sm := reSocket.FindStringSubmatch(out); sm != nil {
		if sm[1] != "0" || sm[2] != "0" || sm[3] != "0" {
			errs = append(errs, fmt.Sprintf("socket errors: connect %s, read %s, write %s", sm[1], sm[2], sm[3]))
		}
		r.Timeouts, _ = strconv.ParseInt(sm[4], 10, 64)
	}
	for _, em := range reErrors.FindAllStringSubmatch(out, -1) {
		errs = append(errs, strings.TrimSpace(em[1]))
	}
	r.Errors = strings.Join(errs, "; ")
	return r, nil
}
