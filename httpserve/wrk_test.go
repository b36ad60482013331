package httpserve

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	case "httpserve":
		snap, err := kv.LoadDir(dir, nil)
		require.NoError(t, err)
		srv := New(&Config{Store: snap})
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
//	go test -run '^$' -bench Wrk -benchtime 1x ./httpserve
//
// It skips without wrk, nginx or taskset (or fails with UNIKIT_PEERS=require).
func BenchmarkWrk(b *testing.B) {
	dur := 10 * time.Second
	if s := os.Getenv("UNIKIT_WRK_SECONDS"); s != "" {
		n, _ := strconv.Atoi(s)
		dur = time.Duration(n) * time.Second
	}
	wrkCompare(b, 4096, 50, dur)
}

// BenchmarkWrkMatrix runs BenchmarkWrk's comparison over the static HTTP matrix of issue 6:
// 4 KiB, 64 KiB and 1 MiB files × 1, 50 and 500 connections, as sub-benchmarks named
// SIZE/cCONNS (for example 64KiB/c500). Each server is measured for UNIKIT_WRK_SECONDS
// (default 3) after a one-second warm-up. Besides BenchmarkWrk's metrics it reports wrk's
// latency percentiles (SERVER-p50-ms, SERVER-p99-ms). Select one point with
//
//	go test -run '^$' -bench '^BenchmarkWrkMatrix$/^64KiB$/^c50$' -benchtime 1x ./httpserve
func BenchmarkWrkMatrix(b *testing.B) {
	dur := 3 * time.Second
	if s := os.Getenv("UNIKIT_WRK_SECONDS"); s != "" {
		n, _ := strconv.Atoi(s)
		dur = time.Duration(n) * time.Second
	}
	sizes := []struct {
		name string
		size int
	}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			for _, conns := range []int{1, 50, 500} {
				b.Run("c"+strconv.Itoa(conns), func(b *testing.B) {
					wrkCompare(b, sz.size, conns, dur)
				})
			}
		})
	}
}

// wrkCompare serves a size-byte page from httpserve, http.FileServer and nginx in turn, each
// alone on CPU 1, loads it with one wrk thread on CPU 0 over conns connections for dur, and
// reports each server's requests/s, server CPU time per request, latency percentiles and
// peak resident memory.
func wrkCompare(b *testing.B, size, conns int, dur time.Duration) {
	dir := b.TempDir()
	page := bytes.Repeat([]byte("<p>hello, unikernel world</p>\n"), size/30+1)[:size]
	require.NoError(b, os.WriteFile(filepath.Join(dir, "page.html"), page, 0o644))
	self, err := os.Executable()
	require.NoError(b, err)

	var summary []string
	defer func() { b.Log("\n" + strings.Join(summary, "\n")) }()
	measure := func(name string, start func(addr string) *exec.Cmd) httpload.Measurement {
		addr := freeAddr(b)
		cmd := start(addr)
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		m := httpload.Measure(b, cmd.Process.Pid, size,
			httpload.Load{URL: "http://" + addr + "/page.html", Conns: conns, Duration: dur, CPUs: "0"})
		summary = append(summary, fmt.Sprintf("%d B, %d conns: %s", size, conns, httpload.Report(b, name, m)))
		return m
	}
	goServer := func(mode string) func(addr string) *exec.Cmd {
		return func(addr string) *exec.Cmd {
			cmd := httpload.Pinned(b, nil, "1", self, "-test.run=^TestBenchServerProcess$", "-test.count=1", "-test.timeout=0")
			cmd.Env = append(os.Environ(), benchServerEnv+"="+mode+" "+dir+" "+addr)
			return httpload.Start(b, nil, addr, cmd)
		}
	}
	ours := measure("httpserve", goServer("httpserve"))
	measure("fileserver", goServer("fileserver"))
	ng := measure("nginx", func(addr string) *exec.Cmd { return httpload.StartNginx(b, nil, "1", addr, dir) })
	b.ReportMetric(ours.ReqPerSec/ng.ReqPerSec, "rps-vs-nginx")
	b.ReportMetric(float64(ours.CPUPerRequest)/float64(ng.CPUPerRequest), "cpu-vs-nginx")
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
