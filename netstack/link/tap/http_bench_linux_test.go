package tap_test

// BenchmarkHTTP4K measures the netstack issue's HTTP target: 4 KiB HTTP responses over TAP
// (wrk, 50 keep-alive connections) at >= 0.7x the same server on kernel sockets over veth,
// both measured side by side in the same run, and httpserve serving the same page from a kv
// store on the stack over TAP (the bench issue's static HTTP row on the netstack). Run it
// (root, wrk and iproute2 needed) with
//
//	go test ./netstack/link/tap -run '^$' -bench 'HTTP4K' -benchtime 1x -count 3 -v
//
// Each iteration is one `wrk -t2 -c50 -d5s --latency http://ADDR/` run (-d from
// UNIKIT_WRK_SECONDS if set); -benchtime 1x makes one run per sub-benchmark, and the parent
// logs the ratios after the sub-benchmarks (the testing package prints a parent benchmark's
// log only with -v). Like every benchmark it only runs with -bench, so `go test ./...` does
// not start it.

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/kv"
)

// httpBodySize is the size of every response body in the HTTP benchmark.
const httpBodySize = 4096

// wrkLoad is every run's load: 2 threads, 50 keep-alive connections, for UNIKIT_WRK_SECONDS
// (default 5).
var wrkLoad = httpload.Load{Threads: 2, Conns: 50, Duration: httpload.Seconds(5 * time.Second)}

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

// runWrk runs wrk (wrkLoad) b.N times inside ns against url, checks every run with
// httpload.Check, reports the mean requests/s, latency percentiles and wrk's timeouts, and
// returns the mean requests/s and the number of requests served.
func runWrk(b *testing.B, ns *netns.NS, url string) (reqPerSec float64, requests int64) {
	b.Helper()
	load := wrkLoad
	load.NS, load.URL = ns, url
	var sum httpload.Result
	b.ResetTimer()
	for range b.N {
		r, out := httpload.Run(b, load)
		httpload.Check(b, r, out, httpBodySize, load.Conns)
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
