package main

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/soak"
)

// BenchmarkLoadedMemory loads the blog appliance with 500 keep-alive connections downloading
// a 1 MiB file, through -net user (wrk on 127.0.0.1, through the port forward) and over TAP
// (wrk in the TAP device's namespace; needs root), and reports what memory it took: its peak
// resident memory (VmHWM) and the peak of the Go heap's objects (its debug listener, sampled
// every 200 ms), beside the requests served. -count repeats user and tap round by round:
//
//	go test ./examples/blog -run '^$' -bench LoadedMemory -benchtime 1x -count 3
//
// What bounds it is the stacks' TCP buffer budget (netstack.Config.TCPBufferBudget, see
// netstack's budget.go): at 500 connections every connection's share of the 8 MiB budget is
// below the default buffer sizes, so no buffer grows past them. A send buffer holds a copy of
// what the server wrote and its peer has not acknowledged, at most 64 KiB per connection: 32
// MiB for 500. The requests are small, so the server's receive buffers stay empty. Through
// -net user the embedded network's own stack holds the other end of each connection, whose
// receive buffer (128 KiB by default) queues what its relay has not yet copied to the host
// socket: 64 MiB for 500 at most, plus at most one 32 KiB relay buffer per connection while
// data moves (16 MiB). So the TCP buffers of 500 connections can take at most 32 MiB over TAP
// and 112 MiB through -net user; gVisor's segment bookkeeping and the garbage the collector
// has not reclaimed yet come on top.
func BenchmarkLoadedMemory(b *testing.B) {
	bin := apptest.Build(b)
	site := b.TempDir()
	const size, conns = 1 << 20, 500
	require.NoError(b, os.WriteFile(filepath.Join(site, "1MiB.html"), httpload.Page(size), 0o644))
	dur := httpload.PointDuration(httpload.Seconds(3*time.Second), httpload.Size{Name: "1MiB", Bytes: size}, conns)
	for _, net := range []struct {
		name  string
		setup func(testing.TB) *soak.Net
	}{{"user", soakUser}, {"tap", soakTAP}} {
		b.Run(net.name, func(b *testing.B) {
			n := net.setup(b)
			for range b.N {
				a := soak.Start(b, bin, n, "-site", site)
				s := soak.StartSampler(a, 200*time.Millisecond)
				m := httpload.Measure(b, []int{a.PID}, size, httpload.Load{URL: a.Base + "/1MiB.html",
					Threads: 2, Conns: conns, Duration: dur, NS: n.NS})
				samples, err := s.Stop()
				require.NoError(b, err)
				peak := slices.MaxFunc(samples, func(x, y soak.Sample) int { return int(x.Heap) - int(y.Heap) })
				b.ReportMetric(float64(m.PeakRSS)/(1<<20), "peak-RSS-MiB")
				b.ReportMetric(float64(peak.Heap)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(m.ReqPerSec, "req/s")
				b.Logf("%s: 500 × 1 MiB: %.0f requests/s, peak resident %.0f MiB, peak Go heap objects %.0f MiB (%d connections then)",
					net.name, m.ReqPerSec, float64(m.PeakRSS)/(1<<20), float64(peak.Heap)/(1<<20), peak.Conns)
				a.Signal(syscall.SIGKILL) // not a graceful stop: the next round needs the machine
			}
		})
	}
}
