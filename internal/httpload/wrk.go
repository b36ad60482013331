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

// Load is one wrk run: where it runs and how hard it loads the server.
type Load struct {
	URL      string
	Threads  int           // wrk -t; 0 means 1
	Conns    int           // wrk -c: keep-alive connections
	Duration time.Duration // wrk -d, whole seconds; 0 means 1 s
	CPUs     string        // taskset -c list for wrk; "" leaves it unpinned
	NS       *netns.NS     // namespace wrk runs in; nil means this one
}

// Result is what one wrk run reported.
type Result struct {
	ReqPerSec float64       // "Requests/sec:"
	Requests  int64         // "N requests in ..."
	ReadBytes float64       // "..., X read" in bytes (wrk rounds it to two decimals of its unit)
	P50, P99  time.Duration // "Latency Distribution" (wrk --latency)
	Errors    string        // "Non-2xx or 3xx responses:" and socket errors other than timeouts
	Timeouts  int64         // requests without a response within wrk's timeout (2 s)
}

// Run runs wrk as l says, with --latency, and returns its figures and its output. It fails t
// if wrk fails, prints no figures or served no request; socket errors and non-2xx responses
// are left in Result.Errors for the caller to judge.
func Run(t testing.TB, l Load) (Result, string) {
	t.Helper()
	wrk := peers.Program(t, "wrk", "wrk")
	secs := max(1, int(l.Duration/time.Second))
	args := []string{wrk, "-t" + strconv.Itoa(max(1, l.Threads)), "-c" + strconv.Itoa(l.Conns),
		"-d" + strconv.Itoa(secs) + "s", "--latency", l.URL}
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
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "wrk: %s", out)
	r, err := Parse(string(out))
	require.NoError(t, err, "wrk: %s", out)
	require.NotZero(t, r.Requests, "wrk: %s", out)
	return r, string(out)
}

var (
	reReqPerSec = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	reRequests  = regexp.MustCompile(`(?m)^\s*(\d+) requests in [0-9.]+\w+, ([0-9.]+)([KMGT]?B) read\s*$`)
	reLatency   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
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
	r.ReadBytes = v * math.Pow(1024, float64(strings.Index("BKMGT", m[3][:1])))
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
