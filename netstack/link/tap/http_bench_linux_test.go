package tap_test

// BenchmarkHTTP4K measures the netstack issue's HTTP target: 4 KiB HTTP responses over TAP
// (wrk, 50 keep-alive connections) at >= 0.7x the same server on kernel sockets over veth,
// both measured side by side in the same run, and httpserve serving the same page from a kv
// store on the stack over TAP (the bench issue's static HTTP row on the netstack). Run it
// (root, wrk and iproute2 needed) with
//
//	go test ./netstack/link/tap -run '^$' -bench 'HTTP4K/split' -benchtime 1x -count 3 -v
//
// Each server's turn is one `wrk -t2 -c50 -d10s --latency http://ADDR/` run after a second of
// warm-up (-d from UNIKIT_WRK_SECONDS if set); -benchtime 1x makes one round per -count. Like
// every benchmark it only runs with -bench, so `go test ./...` does not start it.

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/kv"
)

// httpBodySize is the size of every response body in the HTTP benchmark.
const httpBodySize = 4096

// wrkLoad is every run's load: 2 threads, 50 keep-alive connections, for UNIKIT_WRK_SECONDS
// (default 10), after a second of warm-up.
var wrkLoad = httpload.Load{Threads: 2, Conns: 50, Duration: httpload.Seconds(10 * time.Second)}

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

// measureHere loads the server this process serves at url with wrkLoad from inside ns, with
// wrk on pin.Client and this process on pin.Server, and returns its figures: the server's CPU
// time is this process's, which holds the stack or the kernel sockets' user side.
func measureHere(b *testing.B, ns *netns.NS, url string, pin httpload.Pinning) httpload.Measurement {
	b.Helper()
	load := wrkLoad
	load.NS, load.URL, load.CPUs = ns, url, pin.Client
	restore := pinProcess(b, pin.Server)
	defer restore()
	return httpload.Measure(b, []int{os.Getpid()}, httpBodySize, load)
}

// pinProcess sets the CPU affinity of every thread of this process to cpus (a taskset -c
// list such as "1" or "0-1") and returns a function that restores each thread's former
// affinity. Threads started later inherit the affinity of the thread that starts them.
func pinProcess(b *testing.B, cpus string) (restore func()) {
	b.Helper()
	var set unix.CPUSet
	lo, hi, isRange := strings.Cut(cpus, "-")
	first, err := strconv.Atoi(lo)
	require.NoError(b, err, "CPU list %q", cpus)
	last := first
	if isRange {
		last, err = strconv.Atoi(hi)
		require.NoError(b, err, "CPU list %q", cpus)
	}
	for c := first; c <= last; c++ {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(b, err)
	old := map[int]unix.CPUSet{}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		require.NoError(b, err)
		var was unix.CPUSet
		if unix.SchedGetaffinity(tid, &was) != nil {
			continue // the thread has exited
		}
		if unix.SchedSetaffinity(tid, &set) == nil {
			old[tid] = was
		}
	}
	return func() {
		for tid, was := range old {
			_ = unix.SchedSetaffinity(tid, &was)
		}
	}
}

// BenchmarkHTTP4K serves 4 KiB responses to wrk (two threads, 50 connections) in a
// namespace, from three servers measured in turn under each pinning (httpload.Pinnings), as
// sub-benchmarks BenchmarkHTTP4K/PINNING whose -count repeats them round by round; each
// server's figures are metrics prefixed with its name (httpload.Report). Two serve the same
// net/http handler:
//   - tap-stack (the target): the server listens on the stack, attached to a TAP link with
//     offloads at MTU 1500 whose kernel side lives in the namespace wrk runs in;
//   - veth-kernel (the anchor): the server listens on kernel sockets created in a second
//     namespace, joined to wrk's namespace by a veth pair at MTU 1500.
//
// The third serves the same page with httpserve (the kv key "index.html", answered for "/"):
//   - tap-stack-httpserve: as tap-stack, with httpserve instead of net/http.
//
// In all of them the server runs in this process, pinned as the pinning says for its turn,
// and wrk in its own, so they share the machine the same way; the server's CPU time is this
// process's, the machine's all CPUs' (/proc/stat). The target is
// tap-stack >= 0.7 × veth-kernel.
func BenchmarkHTTP4K(b *testing.B) {
	peers.Root(b)
	peers.Program(b, "wrk", "wrk")
	// tapStack measures the server serve starts on the stack over TAP.
	tapStack := func(name string, serve func(testing.TB, net.Listener), pin httpload.Pinning) httpload.Server {
		return httpload.Server{Name: name, Measure: func(b *testing.B) httpload.Measurement {
			k := newKernelSegment(b, nil)
			ln, err := k.stack.Listen("tcp4", netip.AddrPortFrom(stack4.Addr(), 80).String())
			require.NoError(b, err)
			serve(b, ln)
			before := k.link.Stats()
			m := measureHere(b, k.ns, "http://"+stack4.Addr().String()+"/", pin)
			after := k.link.Stats()
			// Frames per request show what each request costs the link (one syscall per
			// frame each way), warm-up included.
			requests := float64(m.Requests)
			b.ReportMetric(float64(after.TxFrames-before.TxFrames)/requests, name+"-tx-frames/req")
			b.ReportMetric(float64(after.RxFrames-before.RxFrames)/requests, name+"-rx-frames/req")
			return m
		}}
	}
	httpload.ForPinnings(b, func(b *testing.B, pin httpload.Pinning) {
		veth := httpload.Server{Name: "veth-kernel", Measure: func(b *testing.B) httpload.Measurement {
			client, server, _, a2 := vethPair(b)
			var ln net.Listener
			require.NoError(b, server.Do(func() error {
				var err error
				ln, err = net.Listen("tcp4", netip.AddrPortFrom(a2, 80).String())
				return err
			}))
			serveHTTP(b, ln)
			return measureHere(b, client, "http://"+a2.String()+"/", pin)
		}}
		ms := httpload.Round(b, []httpload.Server{tapStack("tap-stack", serveHTTP, pin), veth,
			tapStack("tap-stack-httpserve", serveHTTPServe, pin)})
		b.Logf("4 KiB HTTP, %s: tap-stack %.3f× veth-kernel (target >= 0.7), tap-stack-httpserve %.3f× veth-kernel, %.3f× tap-stack",
			pin.Name, ms[0].ReqPerSec/ms[1].ReqPerSec, ms[2].ReqPerSec/ms[1].ReqPerSec, ms[2].ReqPerSec/ms[0].ReqPerSec)
	})
}
