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
	wrk := peers.Program(b, "wrk", "wrk")
	nginx := peers.Program(b, "nginx", "nginx-light")
	taskset := peers.Program(b, "taskset", "util-linux")
	dir := b.TempDir()
	page := bytes.Repeat([]byte("<p>hello, unikernel world</p>\n"), 200)[:4096]
	require.NoError(b, os.WriteFile(filepath.Join(dir, "page.html"), page, 0o644))
	dur := 10 * time.Second
	if s := os.Getenv("UNIKIT_WRK_SECONDS"); s != "" {
		n, _ := strconv.Atoi(s)
		dur = time.Duration(n) * time.Second
	}

	type result struct {
		rps, cpuPerReq float64
	}
	var summary []string
	defer func() { b.Log("\n" + strings.Join(summary, "\n")) }()
	run := func(name string, start func(addr string) *exec.Cmd) result {
		addr := freeAddr(b)
		cmd := start(addr)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(b, cmd.Start())
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		waitListening(b, addr)
		url := "http://" + addr + "/page.html"
		// Warm up (caches, JIT-free but page cache and open_file_cache).
		exec.Command(taskset, "-c", "0", wrk, "-t1", "-c50", "-d1s", url).Run()
		before := procCPU(b, cmd.Process.Pid)
		out, err := exec.Command(taskset, "-c", "0", wrk, "-t1", "-c50", "-d"+strconv.Itoa(int(dur/time.Second))+"s", url).CombinedOutput()
		require.NoError(b, err, "%s", out)
		after := procCPU(b, cmd.Process.Pid)
		reqs := wrkRequests(b, out)
		rps := wrkRPS(b, out)
		cpu := (after - before).Seconds() / reqs
		summary = append(summary, fmt.Sprintf("%s: %.0f requests/s, %.1f µs server CPU per request (%.0f requests, %.2fs CPU)",
			name, rps, cpu*1e6, reqs, (after-before).Seconds()))
		return result{rps, cpu}
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
	b.ReportMetric(ours.rps, "httpserve-req/s")
	b.ReportMetric(ours.cpuPerReq*1e6, "httpserve-cpu-µs/req")
	b.ReportMetric(ng.rps, "nginx-req/s")
	b.ReportMetric(ng.cpuPerReq*1e6, "nginx-cpu-µs/req")
	b.ReportMetric(fs.rps, "fileserver-req/s")
	b.ReportMetric(fs.cpuPerReq*1e6, "fileserver-cpu-µs/req")
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

func wrkRequests(t testing.TB, out []byte) float64 {
	m := wrkReqsRe.FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
