package observe_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/kv"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pcap"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/observe"
)

// rig is an appliance in miniature: a server stack (10.0.0.1) serving a small site with
// httpserve on port 80, a client stack (10.0.0.2) on the other end of a pipe link, and an
// observer of the server, served on a loopback listener of the host.
type rig struct {
	server, client *netstack.Stack
	http           *httpserve.Server
	obs            *observe.Observer
	url            string // the observer's base URL
	frames         *observe.Frames
	capture        *pcap.Link // the server's link, writing to frames
}

// page is the site's one file.
var page = bytes.Repeat([]byte("unikit "), 200)

// newRig builds a rig over a pipe with impairments im, with token (none if empty).
func newRig(t testing.TB, im pipe.Impairments, token string) *rig {
	return buildRig(t, im, token, true, true)
}

// buildRig builds a rig; without observed, it has neither the observer nor the ring of
// frames (the debug listener off); fr starts the observer's flight recorder.
func buildRig(t testing.TB, im pipe.Impairments, token string, observed, fr bool) *rig {
	t.Helper()
	a, b, err := pipe.New(&pipe.Config{Impair: im})
	require.NoError(t, err)
	r := &rig{}
	var l link.Link = a
	if observed {
		r.frames = observe.NewFrames(0)
		r.capture = pcap.New(a, r.frames, &pcap.Config{Snaplen: observe.FramesSnaplen, Nanoseconds: true})
		l = r.capture
	}
	r.server, r.client = stacktest.Pair(t, l, b)
	site := kv.NewMem(nil)
	require.NoError(t, site.Set("index.html", page))
	r.http = httpserve.New(&httpserve.Config{Store: site})
	ln, err := r.server.Listen("tcp", ":80")
	require.NoError(t, err)
	go r.http.Serve(ln)
	t.Cleanup(func() { r.http.Close() })
	if !observed {
		return r
	}
	r.obs, err = observe.New(&observe.Config{Stack: r.server, HTTP: map[string]observe.HTTPStats{"80": r.http},
		Frames: r.frames, Token: token, FlightRecorder: fr})
	require.NoError(t, err)
	t.Cleanup(func() { r.obs.Close() })
	hs := httptest.NewServer(r.obs)
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

// get fetches the observer's path and returns the body, requiring 200.
func (r *rig) get(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := http.Get(r.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
	return b
}

// requests makes n requests for the page over one connection from the client stack and
// returns the response bytes read.
func (r *rig) requests(t *testing.T, n int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := r.client.Dial(ctx, "tcp", "10.0.0.1:80")
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	total := 0
	for range n {
		_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		cr := &countingReader{r: br}
		resp, err := http.ReadResponse(bufio.NewReader(cr), nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, page, body)
		total += int(resp.ContentLength) + headLen(resp)
	}
	return total
}

// headLen is the length of a response's head as the server wrote it.
func headLen(resp *http.Response) int {
	var b bytes.Buffer
	resp.Header.Write(&b)
	return len("HTTP/1.1 200 OK\r\n") + b.Len() + 2
}

// countingReader passes reads through.
type countingReader struct{ r io.Reader }

func (c *countingReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// goTool runs `go tool NAME args...` and returns its output.
func goTool(t *testing.T, args ...string) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go command at %s", goBin)
	}
	out, err := exec.Command(goBin, append([]string{"tool"}, args...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// writeTemp writes b to a file of the test's and returns its path.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestNothingOnDefaultServeMux checks that an observer registers none of its paths on
// http.DefaultServeMux, which an application's public port may serve.
func TestNothingOnDefaultServeMux(t *testing.T) {
	r := newRig(t, pipe.Impairments{}, "")
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile", "/debug/pprof/trace",
		"/debug/flightrecorder", "/metrics", "/debug/netstack/connections"} {
		rec := httptest.NewRecorder()
		http.DefaultServeMux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		require.Equal(t, http.StatusNotFound, rec.Code, p)
		r.get(t, p+"?seconds=0.1")
	}
}

// TestToken checks that with a token set, a request without it or with another is refused
// and one with it served.
func TestToken(t *testing.T) {
	r := newRig(t, pipe.Impairments{}, "tok")
	for _, auth := range []string{"", "Bearer", "Bearer nope", "Basic dG9rOg==", "bearer tok"} {
		req, _ := http.NewRequest(http.MethodGet, r.url+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, auth)
	}
	req, _ := http.NewRequest(http.MethodGet, r.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestCPUProfile takes a CPU profile while the server works and has `go tool pprof` read it.
func TestCPUProfile(t *testing.T) {
	r := newRig(t, pipe.Impairments{}, "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			r.requests(t, 20)
		}
	}()
	prof := r.get(t, "/debug/pprof/profile?seconds=1")
	<-done
	out := goTool(t, "pprof", "-raw", writeTemp(t, "cpu.pprof", prof))
	require.Contains(t, out, "PeriodType: cpu nanoseconds")
	require.Contains(t, out, "Samples:")
	if !israce.Enabled { // the race detector's own functions take most samples then
		require.Contains(t, out, "github.com/unikit/unikit/httpserve", "no sample in the server")
	}

	heap := r.get(t, "/debug/pprof/heap?seconds=0.2")
	out = goTool(t, "pprof", "-raw", writeTemp(t, "heap.pprof", heap))
	require.Contains(t, out, "PeriodType: space bytes")
	require.True(t, strings.HasPrefix(string(r.get(t, "/debug/pprof/goroutine?debug=1")), "goroutine profile: total"))
	r.get(t, "/debug/pprof/mutex")
	r.get(t, "/debug/pprof/block")
	require.Contains(t, string(r.get(t, "/debug/pprof/")), "/debug/pprof/heap")
}

// TestTraces takes an execution trace and a flight-recorder snapshot while the server
// answers requests, and has `go tool trace` parse both and find the library's tasks and
// regions.
func TestTraces(t *testing.T) {
	r := newRig(t, pipe.Impairments{}, "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond) // let the trace start
		r.requests(t, 10)
	}()
	live := r.get(t, "/debug/pprof/trace?seconds=1")
	<-done
	for name, b := range map[string][]byte{"live": live, "flight recorder": r.get(t, "/debug/flightrecorder")} {
		out := goTool(t, "trace", "-d=parsed", writeTemp(t, "trace.out", b))
		for _, want := range []string{"unikit.http.request", "unikit.http.prepare", "unikit.http.write",
			"unikit.link.rx", "unikit.link.tx"} {
			require.Contains(t, out, want, "%s trace", name)
		}
	}
}

// metric returns the value of the sample named series (name and labels as written) in an
// exposition.
func metric(t *testing.T, exp []byte, series string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(string(exp), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err, line)
			return f
		}
	}
	t.Fatalf("no %s in the metrics", series)
	return 0
}

// TestMetrics checks /metrics with promtool, and that its counters move by exactly the
// traffic the test sends: HTTP requests, their bytes and prepared responses; UDP datagrams,
// and the frames and bytes that carried them, on the NIC.
func TestMetrics(t *testing.T) {
	r := newRig(t, pipe.Impairments{}, "")
	pc, err := r.server.ListenPacket("udp", ":9")
	require.NoError(t, err)
	defer pc.Close()
	cc, err := r.client.Dial(context.Background(), "udp", "10.0.0.1:9")
	require.NoError(t, err)
	defer cc.Close()
	buf := make([]byte, 2048)
	send := func(n int) {
		for range n {
			_, err := cc.Write(make([]byte, 100))
			require.NoError(t, err)
			require.NoError(t, pc.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, _, err = pc.ReadFrom(buf)
			require.NoError(t, err)
		}
	}
	send(1) // ARP resolved both ways
	delta := func(from, to []byte, series string) float64 { return metric(t, to, series) - metric(t, from, series) }
	// The stacks' IPv6 control traffic (router solicitations after DAD, for several seconds)
	// may land in a window; an attempt without it must show exactly the datagrams sent.
	var window []string
	for range 5 {
		before := r.get(t, "/metrics")
		send(10)
		mid := r.get(t, "/metrics")
		window = []string{}
		for series, want := range map[string]float64{
			`unikit_udp_datagrams_received_total`:                 10,
			`unikit_ip_packets_received_total`:                    10,
			`unikit_nic_receive_frames_total{nic="nic1"}`:         10,
			`unikit_nic_receive_bytes_total{nic="nic1"}`:          10 * (14 + 20 + 8 + 100),
			`unikit_nic_transmit_frames_total{nic="nic1"}`:        0,
			`unikit_nic_receive_dropped_frames_total{nic="nic1"}`: 0,
		} {
			if got := delta(before, mid, series); got != want {
				window = append(window, fmt.Sprintf("%s moved by %v, want %v", series, got, want))
			}
		}
		if len(window) == 0 {
			break
		}
		t.Logf("a window with other traffic: %v", window)
	}
	require.Empty(t, window, "no attempt moved the counters by exactly the datagrams sent")

	mid := r.get(t, "/metrics")
	sent := r.requests(t, 5)
	after := r.get(t, "/metrics")
	require.Equal(t, 5.0, delta(mid, after, `unikit_http_requests_total{class="2xx",port="80"}`))
	require.Equal(t, 0.0, delta(mid, after, `unikit_http_requests_total{class="4xx",port="80"}`))
	require.Equal(t, 5.0, delta(mid, after, `unikit_http_prepared_responses_total{port="80"}`))
	require.Equal(t, float64(sent), delta(mid, after, `unikit_http_response_bytes_total{port="80"}`))
	require.Equal(t, 1.0, delta(mid, after, `unikit_http_connections_accepted_total{port="80"}`))
	require.Equal(t, 1.0, delta(mid, after, `unikit_tcp_passive_opens_total`))
	require.Equal(t, 1.0, metric(t, after, `unikit_tcp_connections{state="listen"}`))
	require.Contains(t, string(after), "go_gc_duration_seconds")

	// The ACK hold's counters are exported as the stack counts them: each scrape lies between
	// two reads of the stack's own counters around it. The requests' ACKs have moved them.
	lo := r.server.Stats().NICs[0]
	scrape := r.get(t, "/metrics")
	hi := r.server.Stats().NICs[0]
	require.NotZero(t, hi.AckHeld, "the requests' ACKs went through the ACK hold")
	for series, read := range map[string]func(*netstack.NICStats) uint64{
		`unikit_nic_ack_held_total{nic="nic1"}`:        func(n *netstack.NICStats) uint64 { return n.AckHeld },
		`unikit_nic_ack_superseded_total{nic="nic1"}`:  func(n *netstack.NICStats) uint64 { return n.AckSuperseded },
		`unikit_nic_ack_expired_total{nic="nic1"}`:     func(n *netstack.NICStats) uint64 { return n.AckExpired },
		`unikit_nic_ack_hold_pauses_total{nic="nic1"}`: func(n *netstack.NICStats) uint64 { return n.AckPauses },
	} {
		got := metric(t, scrape, series)
		assert.GreaterOrEqual(t, got, float64(read(&lo)), series)
		assert.LessOrEqual(t, got, float64(read(&hi)), series)
	}

	promtool := peers.Program(t, "promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(after)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", out)
}
