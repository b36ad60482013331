package httpserve

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/peers"
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

// wrkResult is one server's figures under wrk.
type wrkResult struct {
	rps, cpuPerReq float64
	p50, p99       time.Duration
}

// wrkCompare serves a size-byte page from httpserve, http.FileServer and nginx in turn, each
// alone on CPU 1, loads it with one wrk thread on CPU 0 over conns connections for dur, and
// reports each server's requests/s, server CPU time per request and latency percentiles.
func wrkCompare(b *testing.B, size, conns int, dur time.Duration) {
	wrk := peers.Program(b, "wrk", "wrk")
	nginx := peers.Program(b, "nginx", "nginx-light")
	taskset := peers.Program(b, "taskset", "util-linux")
	dir := b.TempDir()
	page := bytes.Repeat([]byte("<p>hello, unikernel world</p>\n"), size/30+1)[:size]
	require.NoError(b, os.WriteFile(filepath.Join(dir, "page.html"), page, 0o644))
	c := "-c" + strconv.Itoa(conns)

	var summary []string
	defer func() { b.Log("\n" + strings.Join(summary, "\n")) }()
	run := func(name string, start func(addr string) *exec.Cmd) wrkResult {
		addr := freeAddr(b)
		cmd := start(addr)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(b, cmd.Start())
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		waitListening(b, addr)
		url := "http://" + addr + "/page.html"
		// Warm up (caches, JIT-free but page cache and open_file_cache).
		exec.Command(taskset, "-c", "0", wrk, "-t1", c, "-d1s", url).Run()
		before := procCPU(b, cmd.Process.Pid)
		out, err := exec.Command(taskset, "-c", "0", wrk, "-t1", c, "--latency", "-d"+strconv.Itoa(int(dur/time.Second))+"s", url).CombinedOutput()
		require.NoError(b, err, "%s", out)
		after := procCPU(b, cmd.Process.Pid)
		reqs := wrkRequests(b, out)
		r := wrkResult{rps: wrkRPS(b, out), cpuPerReq: (after - before).Seconds() / reqs,
			p50: wrkPercentile(b, out, "50%"), p99: wrkPercentile(b, out, "99%")}
		summary = append(summary, fmt.Sprintf("%s, %d B, %d conns: %.0f requests/s, %.1f µs server CPU per request (%.0f requests, %.2fs CPU), p50 %v, p99 %v",
			name, size, conns, r.rps, r.cpuPerReq*1e6, reqs, (after-before).Seconds(), r.p50, r.p99))
		return r
	}
	self, err := os.Executable()
	require.NoError(b, err)
	goServer := func(mode string) func(addr string) *exec.Cmd {
		return func(addr string) *exec.Cmd {
			cmd := exec.Command(taskset, "-c", "1", self, "-test.run=^TestBenchServerProcess$", "-test.count=1", "-test.timeout=0")
			cmd.Env = append(os.Environ(), benchServerEnv+"="+mode+" "+dir+" "+addr)
			return cmd
		}
	}
	ours := run("httpserve", goServer("httpserve"))
	fs := run("http.FileServer", goServer("fileserver"))
	ng := run("nginx", func(addr string) *exec.Cmd {
		prefix := b.TempDir()
		conf := filepath.Join(prefix, "nginx.conf")
		require.NoError(b, os.WriteFile(conf, []byte(fmt.Sprintf(`
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  open_file_cache max=1000 inactive=60s;
  keepalive_requests 1000000;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  types { text/html html; }
  server {
    listen %[2]s;
    root %[3]s;
  }
}
`, prefix, addr, dir)), 0o644))
		return exec.Command(taskset, "-c", "1", nginx, "-p", prefix, "-c", conf)
	})
	for _, s := range []struct {
		name string
		r    wrkResult
	}{{"httpserve", ours}, {"nginx", ng}, {"fileserver", fs}} {
		b.ReportMetric(s.r.rps, s.name+"-req/s")
		b.ReportMetric(s.r.cpuPerReq*1e6, s.name+"-cpu-µs/req")
		b.ReportMetric(float64(s.r.p50)/1e6, s.name+"-p50-ms")
		b.ReportMetric(float64(s.r.p99)/1e6, s.name+"-p99-ms")
	}
	b.ReportMetric(ours.rps/ng.rps, "rps-vs-nginx")
	b.ReportMetric(ours.cpuPerReq/ng.cpuPerReq, "cpu-vs-nginx")
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t testing.TB, addr string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// procCPU returns a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(t testing.TB, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(utime+stime) * time.Second / clkTck
}

var (
	wrkRPSRe  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkReqsRe = regexp.MustCompile(`(\d+) requests in`)
)

func wrkRPS(t testing.TB, out []byte) float64 {
	m := wrkRPSRe.FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// wrkPercentileRe matches a line of wrk --latency's distribution, e.g. "     99%    1.23ms".
var wrkPercentileRe = regexp.MustCompile(`(?m)^\s+([0-9.]+%)\s+([0-9.]+)(us|ms|s|m)\s*$`)

// wrkPercentile returns the latency wrk --latency printed for percentile p ("50%", "99%").
func wrkPercentile(t testing.TB, out []byte, p string) time.Duration {
	for _, m := range wrkPercentileRe.FindAllSubmatch(out, -1) {
		if string(m[1]) != p {
			continue
		}
		v, err := strconv.ParseFloat(string(m[2]), 64)
		require.NoError(t, err)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[string(m[3])]
		return time.Duration(v * float64(unit))
	}
	t.Fatalf("no %s latency in wrk output:\n%s", p, out)
	return 0
}

func wrkRequests(t testing.TB, out []byte) float64 {
	m := wrkReqsRe.FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
