package tap_test

// BenchmarkHTTP4K measures the netstack issue's HTTP target: 4 KiB HTTP responses over TAP
// (wrk, 50 keep-alive connections) at >= 0.7x the same server on kernel sockets over veth,
// both measured side by side in the same run, and httpserve serving the same page from a kv
// store on the stack over TAP (the bench issue's static HTTP row on the netstack). Run it (root, wrk and iproute2 needed) with
//
//	go test ./netstack/link/tap -run '^$' -bench 'HTTP4K' -benchtime 1x -count 3 -v
//
// Each iteration is one `wrk -t2 -c50 -d5s --latency http://ADDR/` run; -benchtime 1x makes
// one run per sub-benchmark, and the parent logs the ratios after the sub-benchmarks (the testing
// package prints a parent benchmark's log only with -v).
// Like every benchmark it only runs with -bench, so `go test ./...` does not start it.

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/kv"
)

// httpBodySize is the size of every response body in the HTTP benchmark.
const httpBodySize = 4096

// wrkArgs are wrk's arguments before the URL: 2 threads, 50 keep-alive connections, 5 s, with
// the latency distribution printed.
var wrkArgs = []string{"-t2", "-c50", "-d5s", "--latency"}

// body4K returns the 4096-byte page every configuration serves.
func body4K() []byte {
	body := []byte(strings.Repeat("unikit 4 KiB response body.....\n", httpBodySize/32))
	if len(body) != httpBodySize {
		panic("body size")
	}
	return body
}

// newHandler4K returns the handler the net/http configurations serve: body4K with
// Content-Length (and Content-Type, so net/http does not sniff the body).
func newHandler4K() http.Handler {
	body := body4K()
	length := []string{strconv.Itoa(len(body))}
	ctype := []string{"application/octet-stream"}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Length"] = length
		h["Content-Type"] = ctype
		_, _ = w.Write(body)
	})
}

// serveHTTP serves newHandler4K on ln until t ends.
func serveHTTP(t testing.TB, ln net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: newHandler4K(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

// serveHTTPServe serves body4K as "/" (the kv key "index.html") with httpserve on ln until
// t ends.
func serveHTTPServe(t testing.TB, ln net.Listener) {
	t.Helper()
	site := kv.NewMem(nil)
	require.NoError(t, site.Set("index.html", body4K()))
	srv := httpserve.New(&httpserve.Config{Store: site})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

// wrkResult is what one wrk run reported.
type wrkResult struct {
	ReqPerSec float64       // "Requests/sec:"
	Requests  int64         // "N requests in ..."
	ReadBytes float64       // "..., X read" in bytes (wrk rounds it to two decimals of its unit)
	P50, P99  time.Duration // "Latency Distribution" (only with --latency)
	Errors    string        // "Non-2xx or 3xx responses:" and socket errors other than timeouts
	Timeouts  int64         // requests without a response within wrk's timeout (2 s)
}

var (
	reReqPerSec = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	reRequests  = regexp.MustCompile(`(?m)^\s*(\d+) requests in [0-9.]+\w+, ([0-9.]+)([KMGT]?B) read\s*$`)
	reLatency   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	reErrors    = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses:.*)$`)
	reSocket    = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$`)
)

// parseWrk extracts the figures from wrk's standard output.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
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
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond,
			"s": time.Second, "m": time.Minute}[lm[3]]
		switch lm[1] {
		case "50":
			r.P50 = time.Duration(d * float64(unit))
		case "99":
			r.P99 = time.Duration(d * float64(unit))
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

// runWrk runs wrk b.N times inside ns against url, checks that every response was a 4 KiB
// 2xx without socket errors, reports the mean requests/s, latency percentiles and wrk's
// timeouts, and returns the mean requests/s and the number of requests served.
//
// Timeouts (no response within 2 s) do not fail the benchmark: on a loaded machine they can
// come from scheduling alone, and the figures show their cost. They are reported as a metric
// and wrk's output is logged, because a server that stalls shows up as timeouts.
func runWrk(b *testing.B, ns *netns.NS, url string) (reqPerSec float64, requests int64) {
	b.Helper()
	wrk := peers.Program(b, "wrk", "wrk")
	var sum wrkResult
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := ns.Command(ctx, wrk, append(wrkArgs, url)...).CombinedOutput()
		cancel()
		require.NoError(b, err, "wrk: %s", out)
		r, err := parseWrk(string(out))
		require.NoError(b, err, "wrk: %s", out)
		require.Empty(b, r.Errors, "wrk: %s", out)
		require.NotZero(b, r.Requests, "wrk: %s", out)
		// Each response is the 4096-byte body plus about 120 bytes of headers.
		per := r.ReadBytes / float64(r.Requests)
		require.True(b, per > httpBodySize*0.99 && per < httpBodySize+512,
			"%.0f bytes per response; wrk: %s", per, out)
		if r.Timeouts > 0 {
			b.Logf("wrk reported %d timeouts: %s", r.Timeouts, out)
		}
		sum.Timeouts += r.Timeouts
		sum.ReqPerSec += r.ReqPerSec
		sum.Requests += r.Requests
		sum.P50 += r.P50
		sum.P99 += r.P99
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(sum.ReqPerSec/n, "req/s")
	b.ReportMetric(float64(sum.P50)/n/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(sum.P99)/n/float64(time.Millisecond), "p99-ms")
	b.ReportMetric(float64(sum.Timeouts)/n, "timeouts")
	return sum.ReqPerSec / n, sum.Requests
}

// BenchmarkHTTP4K serves 4 KiB responses to wrk in a namespace, in three configurations,
// and logs the ratios of their requests/s. Two serve the same net/http handler:
//   - tap-stack (the target): the server listens on the stack, attached to a TAP link with
//     offloads at MTU 1500 whose kernel side lives in the namespace wrk runs in;
//   - veth-kernel (the anchor): the server listens on kernel sockets created in a second
//     namespace, joined to wrk's namespace by a veth pair at MTU 1500.
//
// The third serves the same page with httpserve (the kv key "index.html", answered for "/"):
//   - tap-stack-httpserve: as tap-stack, with httpserve instead of net/http; its ratios to
//     veth-kernel and to tap-stack are logged on a second line.
//
// In all of them the server runs in this process and wrk in its own, so they share the machine the
// same way. The target is tap-stack >= 0.7 × veth-kernel.
func BenchmarkHTTP4K(b *testing.B) {
	// With -count N each sub-benchmark runs N times (the parent once), so the rates are
	// collected and the ratio is taken of their means.
	var stackRates, kernelRates, hsRates []float64
	// tapStack measures the server serve starts on the stack over TAP.
	tapStack := func(b *testing.B, serve func(testing.TB, net.Listener)) float64 {
		peers.Program(b, "wrk", "wrk")
		k := newKernelSegment(b, nil)
		ln, err := k.stack.Listen("tcp4", netip.AddrPortFrom(stack4.Addr(), 80).String())
		require.NoError(b, err)
		serve(b, ln)
		before := k.link.Stats()
		rate, requests := runWrk(b, k.ns, "http://"+stack4.Addr().String()+"/")
		after := k.link.Stats()
		reportOffload(b, k.link)
		// Frames per request show what each request costs the link (one syscall per frame
		// each way); wrk's connection set-up is negligible against its requests.
		b.ReportMetric(float64(after.TxFrames-before.TxFrames)/float64(requests), "tx-frames/req")
		b.ReportMetric(float64(after.RxFrames-before.RxFrames)/float64(requests), "rx-frames/req")
		return rate
	}
	b.Run("tap-stack", func(b *testing.B) {
		stackRates = append(stackRates, tapStack(b, serveHTTP))
	})
	b.Run("veth-kernel", func(b *testing.B) {
		peers.Program(b, "wrk", "wrk")
		client, server, _, a2 := vethPair(b)
		var ln net.Listener
		require.NoError(b, server.Do(func() error {
			var err error
			ln, err = net.Listen("tcp4", netip.AddrPortFrom(a2, 80).String())
			return err
		}))
		serveHTTP(b, ln)
		rate, _ := runWrk(b, client, "http://"+a2.String()+"/")
		kernelRates = append(kernelRates, rate)
	})
	if len(stackRates) > 0 && len(kernelRates) > 0 {
		sm, km := mean(stackRates), mean(kernelRates)
		b.Logf("4 KiB HTTP: tap-stack %.0f req/s %.0f, veth-kernel %.0f req/s %.0f, ratio %.3f (target >= 0.7)",
			sm, stackRates, km, kernelRates, sm/km)
	}
	b.Run("tap-stack-httpserve", func(b *testing.B) {
		hsRates = append(hsRates, tapStack(b, serveHTTPServe))
	})
	if len(hsRates) > 0 && len(stackRates) > 0 && len(kernelRates) > 0 {
		hm, sm, km := mean(hsRates), mean(stackRates), mean(kernelRates)
		b.Logf("4 KiB HTTP: tap-stack-httpserve %.0f req/s %.0f, ratio %.3f to veth-kernel, %.3f to tap-stack (net/http)",
			hm, hsRates, hm/km, hm/sm)
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestParseWrk checks the wrk output parser the HTTP benchmark relies on.
func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://10.78.0.2/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.50ms  40.12ms   90.00%
    Req/Sec    12.34k     1.01k   14.00k    70.00%
  Latency Distribution
     50%    1.75ms
     75%    2.50ms
     90%    3.40ms
     99%  812.00us
  122880 requests in 5.00s, 500.00MB read
Requests/sec:  24576.00
Transfer/sec:    100.00MB
`
	r, err := parseWrk(out)
	require.NoError(t, err)
	require.Equal(t, 24576.0, r.ReqPerSec)
	require.Equal(t, int64(122880), r.Requests)
	require.Equal(t, 500.0*1024*1024, r.ReadBytes)
	require.Equal(t, 1750*time.Microsecond, r.P50)
	require.Equal(t, 812*time.Microsecond, r.P99)
	require.Empty(t, r.Errors)

	r, err = parseWrk(strings.Replace(out, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 12\n  Non-2xx or 3xx responses: 7\nRequests/sec", 1))
	require.NoError(t, err)
	require.Equal(t, "socket errors: connect 0, read 3, write 0; Non-2xx or 3xx responses: 7", r.Errors)
	require.Equal(t, int64(12), r.Timeouts)

	r, err = parseWrk(strings.Replace(out, "Requests/sec", "  Socket errors: connect 0, read 0, write 0, timeout 50\nRequests/sec", 1))
	require.NoError(t, err)
	require.Empty(t, r.Errors)
	require.Equal(t, int64(50), r.Timeouts)

	_, err = parseWrk("unable to connect to 10.78.0.2:80 Connection refused\n")
	require.Error(t, err)
}
