package httpserve

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/kv"
)

// benchServerEnv makes the test binary a server process for BenchmarkWrk:
// "httpserve|fileserver DIR ADDR".
const benchServerEnv = "UNIKIT_HTTPSERVE_BENCH_SERVER"

// TestBenchServerProcess is not a test: it is the server process BenchmarkWrk starts (pinned
// to one core) when benchServerEnv is set, and returns at once otherwise.
func TestBenchServerProcess(t *testing.T) {
	spec := os.Getenv(benchServerEnv)
	if spec == "" {
		return
	}
	f := strings.Fields(spec)
	mode, dir, addr := f[0], f[1], f[2]
	switch mode {
	case "httpserve", "httpserve-h2c":
		snap, err := kv.LoadDir(dir, nil)
		require.NoError(t, err)
		srv := New(&Config{Store: snap, H2C: mode == "httpserve-h2c"})
		t.Fatal(srv.ListenAndServe(addr))
	case "fileserver":
		t.Fatal(http.ListenAndServe(addr, http.FileServer(http.Dir(dir))))
	}
}

// BenchmarkWrk compares requests/s and server CPU time per request of httpserve, nginx and
// Go's http.FileServer serving a 4 KiB page to wrk over kernel loopback: 50 keep-alive
// connections, one wrk thread on CPU 0, the server alone on CPU 1 (taskset), nginx with one
// worker, sendfile and open_file_cache. Server CPU time comes from /proc/<pid>/stat. Run it
// once, by itself:
//
//	go test -run '^$' -bench '^BenchmarkWrk$' -benchtime 1x ./httpserve
//
// It skips without wrk, nginx or taskset (or fails with UNIKIT_PEERS=require).
func BenchmarkWrk(b *testing.B) {
	wrkCompare(b, 4096, 50, httpload.Seconds(10*time.Second))
}

// BenchmarkWrkMatrix runs BenchmarkWrk's comparison over the static HTTP matrix of issue 6
// (httpload.Sizes × httpload.Conns), as sub-benchmarks named SIZE/cCONNS (for example
// 64KiB/c500). Each server is measured for UNIKIT_WRK_SECONDS (default 3; 1 MiB × 500 at least
// 10 s, httpload.PointDuration) after a one-second warm-up. Select one point with
//
//	go test -run '^$' -bench '^BenchmarkWrkMatrix$/^64KiB$/^c50$' -benchtime 1x ./httpserve
func BenchmarkWrkMatrix(b *testing.B) {
	dur := httpload.Seconds(3 * time.Second)
	httpload.ForMatrix(b, func(b *testing.B, size httpload.Size, conns int) {
		wrkCompare(b, size.Bytes, conns, httpload.PointDuration(dur, size, conns))
	})
}

// BenchmarkH2Load compares httpserve and nginx serving a 4 KiB page over HTTP/2 with prior
// knowledge on cleartext (h2c) to h2load on kernel loopback: 50 connections of 10 concurrent
// streams each, h2load on CPU 0 and the server alone on CPU 1, for UNIKIT_WRK_SECONDS (default
// 3) after a one-second warm-up. It reports requests/s, server CPU time per request, h2load's
// mean time for request and peak resident memory; h2load prints no percentiles.
//
//	go test -run '^$' -bench H2Load -benchtime 1x ./httpserve
func BenchmarkH2Load(b *testing.B) {
	const size, conns, streams = 4096, 50, 10
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "page.html"), httpload.Page(size), 0o644))
	load := httpload.Load{Conns: conns, Streams: streams, Duration: httpload.Seconds(3 * time.Second), CPUs: "0"}
	measure := func(name string, start func(addr string) *exec.Cmd) httpload.Measurement {
		m := measureServer(b, size, load, start)
		b.Log(httpload.Report(b, name, m))
		return m
	}
	ours := measure("httpserve", benchServer(b, "httpserve-h2c", dir))
	ng := measure("nginx", func(addr string) *exec.Cmd { return httpload.StartNginx(b, nil, "1", addr, dir, "http2") })
	b.ReportMetric(ours.ReqPerSec/ng.ReqPerSec, "rps-vs-nginx")
	b.ReportMetric(float64(ours.CPUPerRequest)/float64(ng.CPUPerRequest), "cpu-vs-nginx")
}

// benchServer returns a starter of this test binary as the server process mode ("httpserve",
// "httpserve-h2c" or "fileserver") serving dir, pinned to CPU 1.
func benchServer(b *testing.B, mode, dir string) func(addr string) *exec.Cmd {
	self, err := os.Executable()
	require.NoError(b, err)
	return func(addr string) *exec.Cmd {
		cmd := httpload.Pinned(b, nil, "1", self, "-test.run=^TestBenchServerProcess$", "-test.count=1", "-test.timeout=0")
		cmd.Env = append(os.Environ(), benchServerEnv+"="+mode+" "+dir+" "+addr)
		return httpload.Start(b, nil, addr, cmd)
	}
}

// wrkCompare serves a size-byte page from httpserve, http.FileServer and nginx in turn, each
// alone on CPU 1, loads it with one wrk thread on CPU 0 over conns connections for dur, and
// reports each server's requests/s, server and client CPU time per request, latency
// percentiles and peak resident memory. Ratios to nginx: requests/s, server CPU, and server
// plus client CPU (pair), which counts the kernel's loopback work wherever it ran (see
// httpload.Measurement).
func wrkCompare(b *testing.B, size, conns int, dur time.Duration) {
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "page.html"), httpload.Page(size), 0o644))

	var summary []string
	defer func() { b.Log("\n" + strings.Join(summary, "\n")) }()
	load := httpload.Load{Conns: conns, Duration: dur, CPUs: "0"}
	measure := func(name string, start func(addr string) *exec.Cmd) httpload.Measurement {
		m := measureServer(b, size, load, start)
		summary = append(summary, fmt.Sprintf("%d B, %d conns: %s", size, conns, httpload.Report(b, name, m)))
		return m
	}
	ours := measure("httpserve", benchServer(b, "httpserve", dir))
	measure("fileserver", benchServer(b, "fileserver", dir))
	ng := measure("nginx", func(addr string) *exec.Cmd { return httpload.StartNginx(b, nil, "1", addr, dir) })
	b.ReportMetric(ours.ReqPerSec/ng.ReqPerSec, "rps-vs-nginx")
	b.ReportMetric(float64(ours.CPUPerRequest)/float64(ng.CPUPerRequest), "cpu-vs-nginx")
	pair := func(m httpload.Measurement) float64 { return float64(m.CPUPerRequest + m.ClientCPUPerRequest) }
	b.ReportMetric(pair(ours)/pair(ng), "pair-cpu-vs-nginx")
}

// measureServer starts a server with start on a free loopback address, measures it under
// load (its URL set to the server's /page.html, a size-byte page) and stops it, so that the
// next server has CPU 1 to itself.
func measureServer(b *testing.B, size int, load httpload.Load, start func(addr string) *exec.Cmd) httpload.Measurement {
	addr := freeAddr(b)
	cmd := start(addr)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	load.URL = "http://" + addr + "/page.html"
	return httpload.Measure(b, []int{cmd.Process.Pid}, size, load)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
