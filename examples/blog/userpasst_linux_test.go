package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// userPasstRoundsEnv sets how many rounds BenchmarkUserVsPasst measures (default
// userPasstRounds).
const userPasstRoundsEnv = "UNIKIT_ROUNDS"

// userPasstRounds is the default number of rounds: five runs of each path, whose spread the
// bench issue bounds.
const userPasstRounds = 5

// userPasstConns and userPasstSize are the point measured: 1 MiB × 500 connections, the
// cell of the static matrix where the embedded user-mode network swung most from run to run.
const (
	userPasstConns = 500
	userPasstSize  = 1 << 20
)

// passtForwardPort is the port passt forwards from 127.0.0.1 inside the benchmark's own
// namespace to the blog's port 80, so it clashes with nothing on the host.
const passtForwardPort = 18080

// BenchmarkUserVsPasst serves 1 MiB × 500 connections from the blog appliance through the
// embedded user-mode network (-net user, its port forward on 127.0.0.1) and through passt,
// QEMU's user-mode network, in its place (-net socket:PATH to a passt that forwards
// 127.0.0.1:18080 to the blog's port 80, the guest address passt leases by DHCP). Each round
// measures the two in turn (user, passt, user, passt, ...), each a fresh server warmed up for
// a second and loaded by wrk (two threads) for UNIKIT_WRK_SECONDS (default 5), so that a
// change in the machine's load falls on both alike. Everything runs in a network namespace
// of the benchmark's own, whose only route leads to a veth pair inside it; wrk runs on CPU 0,
// the blog (and passt) on CPU 1.
//
// It logs every run and reports, for each path, every run's requests/s (-runN-req/s), their
// median, least and greatest, their spread ((max − min) / min, in %), the median server CPU
// time per request (for passt the blog's and passt's), and the ratio of the medians, user
// over passt. A run whose responses all outlast it (0 requests/s) counts as such; the spread
// is then left out, and -empty-runs says how many there were. -MiB/s is the median of what wrk
// read per second, which counts the responses still in flight when a run ended: a path that
// shares its throughput evenly over the 500 connections completes them all at once, about
// 500 MiB over its throughput after they start, and in a 5 s run that can be none.
// -MiB/s-spread-% is the spread of that rate over the rounds: requests/s moves by whole
// waves of 500 completions (three or four waves fit in 5 s at ~400 MiB/s), the bytes read do
// not, so the two spreads together tell a server that varies from a count that does. It needs
// root, wrk, taskset and passt:
//
//	go test ./examples/blog -run '^$' -bench '^BenchmarkUserVsPasst$' -benchtime 1x
func BenchmarkUserVsPasst(b *testing.B) {
	peers.Root(b)
	passt := peers.Program(b, "passt", "passt")
	bin := apptest.Build(b)
	site := b.TempDir()
	const page = "1MiB.html"
	require.NoError(b, os.WriteFile(filepath.Join(site, page), httpload.Page(userPasstSize), 0o644))
	ns := netns.New(b)
	// passt mirrors the addresses of the namespace's default-route interface for the guest:
	// a veth pair with both ends inside, so that nothing leaves the namespace.
	ns.AddUplink(b, netip.MustParsePrefix("10.216.0.2/24"), netip.MustParseAddr("10.216.0.1"))

	rounds := userPasstRounds
	if n, err := strconv.Atoi(os.Getenv(userPasstRoundsEnv)); err == nil && n > 0 {
		rounds = n
	}
	dur := httpload.Seconds(5 * time.Second)
	paths := []userPasstPath{
		{name: "user", start: func(b *testing.B) matrixServer {
			return startBlog(b, ns, httpload.Split.Server, bin, site, "-net", "user", "-listen", "127.0.0.1:0")
		}},
		{name: "passt", start: func(b *testing.B) matrixServer { return startPasstBlog(b, ns, passt, bin, site) }},
	}
	for range b.N {
		for r := range rounds {
			for i := range paths {
				p := &paths[i]
				srv := p.start(b)
				m := httpload.Measure(b, srv.pids, userPasstSize, httpload.Load{URL: srv.base + "/" + page,
					Threads: 2, Conns: userPasstConns, Duration: dur, CPUs: httpload.Split.Client, NS: ns, AllowNone: true})
				srv.stop()
				p.reqs = append(p.reqs, m.ReqPerSec)
				p.mibs = append(p.mibs, m.ReadBytes/(1<<20)/dur.Seconds())
				if m.Requests > 0 {
					p.cpu = append(p.cpu, float64(m.CPUPerRequest)/1e3)
				}
				b.Logf("round %d, %s: %.1f requests/s, %.1f MiB/s read, %.0f µs server CPU per request, %d timeouts",
					r+1, p.name, m.ReqPerSec, p.mibs[len(p.mibs)-1], float64(m.CPUPerRequest)/1e3, m.Timeouts)
			}
		}
	}
	for _, p := range paths {
		lo, hi := slices.Min(p.reqs), slices.Max(p.reqs)
		b.ReportMetric(median(p.reqs), p.name+"-req/s")
		b.ReportMetric(lo, p.name+"-min-req/s")
		b.ReportMetric(hi, p.name+"-max-req/s")
		for r, v := range p.reqs {
			b.ReportMetric(v, fmt.Sprintf("%s-run%d-req/s", p.name, r+1))
		}
		b.ReportMetric(median(p.mibs), p.name+"-MiB/s")
		if mlo := slices.Min(p.mibs); mlo > 0 {
			b.ReportMetric((slices.Max(p.mibs)-mlo)/mlo*100, p.name+"-MiB/s-spread-%")
		}
		b.ReportMetric(float64(len(p.reqs)-len(p.cpu)), p.name+"-empty-runs")
		if len(p.cpu) > 0 {
			b.ReportMetric(median(p.cpu), p.name+"-cpu-µs/req")
		}
		if lo > 0 {
			b.ReportMetric((hi-lo)/lo*100, p.name+"-spread-%")
			b.Logf("%s: %s requests/s; spread %.0f%%", p.name, joinFloats(p.reqs), (hi-lo)/lo*100)
		} else {
			// A run that completed nothing has no finite spread: the metric is left out.
			b.Logf("%s: %s requests/s; spread unbounded (a run completed no request)", p.name, joinFloats(p.reqs))
		}
	}
	if pm := median(paths[1].reqs); pm > 0 {
		b.ReportMetric(median(paths[0].reqs)/pm, "user-vs-passt-x")
	}
}

// userPasstPath is one contender of BenchmarkUserVsPasst and its figures so far.
type userPasstPath struct {
	name  string
	start func(b *testing.B) matrixServer
	reqs  []float64 // requests/s, one per round
	mibs  []float64 // MiB/s wrk read, one per round: responses in flight when a run ends count
	cpu   []float64 // server CPU µs per request, one per round
}

// startPasstBlog starts passt in ns, serving one guest (-1) on a UNIX socket and forwarding
// 127.0.0.1:passtForwardPort to the guest's port 80, and the blog attached to it with
// -net socket:PATH, both on the server's CPU. The server's processes are the blog's and
// passt's; stop ends both.
func startPasstBlog(b *testing.B, ns *netns.NS, passt, bin, site string) matrixServer {
	// Run as root, passt drops to the user nobody before binding its socket: the directory
	// must be writable and every parent searchable for nobody (b.TempDir's parent is not).
	dir, err := os.MkdirTemp("", "unikit-userpasst-")
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(b, os.Chmod(dir, 0o777))
	sock := filepath.Join(dir, "passt.sock")
	cmd := httpload.Pinned(b, ns, httpload.Split.Server, passt, "-f", "-e", "-1", "-4", "-s", sock,
		"-t", fmt.Sprintf("127.0.0.1/%d:80", passtForwardPort))
	out := new(netns.SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		if cmd.ProcessState == nil {
			stopCmd(cmd)
		}
	})
	require.Eventually(b, func() bool { return strings.Contains(out.String(), "UNIX domain socket bound") },
		10*time.Second, 10*time.Millisecond, "passt did not bind its socket: %s", out)
	srv := startBlog(b, ns, httpload.Split.Server, bin, site, "-net", "socket:"+sock)
	srv.pids = append(srv.pids, cmd.Process.Pid)
	srv.base = fmt.Sprintf("http://127.0.0.1:%d", passtForwardPort)
	stopBlog := srv.stop
	srv.stop = func() {
		stopBlog()
		stopCmd(cmd)
	}
	return srv
}

// median returns the median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// joinFloats formats vs as "1.0, 2.0, ...".
func joinFloats(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strings.Join(s, ", ")
}
