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
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/soak"
)

// BenchmarkLoadedMemory loads the blog appliance with 500 keep-alive connections downloading
// a 1 MiB file (wrk -t2 -c500, UNIKIT_WRK_SECONDS but at least 10 s, after a second's
// warm-up), through -net user (wrk on 127.0.0.1, through the port forward) and over TAP (wrk
// in the TAP device's namespace), a fresh appliance each time, in turn, so that -count
// repeats them round by round. It reports, prefixed with the network's name, the peak
// resident memory (VmHWM), the peak of the Go heap's objects (live or not yet swept, from the
// debug listener every 200 ms) and the requests served. It needs root and wrk:
//
//	go test ./examples/blog -run '^$' -bench LoadedMemory -benchtime 1x -count 3
//
// What bounds the TCP buffers is each stack's budget (netstack.Config.TCPBufferBudget, see
// netstack's tcpBudget). On the blog's stack (64 KiB default send buffer, 4 MiB maximum, 8 MiB
// budget) 500 open connections' shares are the default, 64 KiB of send buffer each: 31 MiB.
// The budget is soft while connections open one after another, each keeping what it queued
// under its larger share until the client acknowledges it: at most the sum over the k-th
// connection of min(4 MiB, max(64 KiB, 8 MiB/k)), 63 MiB for 500. The requests are small, so
// the blog's receive buffers stay empty. Over TAP that is all. Through -net user the embedded
// network's gateway stack holds the other end of each connection, whose receive buffer
// (64 KiB default, 1 MiB maximum, 2 MiB budget) queues what the relay has not yet copied to
// the host's socket: 31 MiB for 500, 36 MiB at most while they open; and each relay holds one
// 32 KiB copy buffer while data moves, 16 MiB. So 500 connections' TCP buffers take at most
// 63 MiB over TAP and 115 MiB through -net user (31 and 78 MiB once all are open). On top
// come the garbage the collector lets accumulate between collections (the appliance paces it
// to about 16 MiB, or a quarter of the live heap), gVisor's buffer pools and the site itself.
func BenchmarkLoadedMemory(b *testing.B) {
	peers.Root(b)
	peers.Program(b, "wrk", "wrk")
	bin := apptest.Build(b)
	site := b.TempDir()
	const size, conns = 1 << 20, 500
	require.NoError(b, os.WriteFile(filepath.Join(site, "1MiB.html"), httpload.Page(size), 0o644))
	dur := httpload.PointDuration(httpload.Seconds(3*time.Second), httpload.Size{Name: "1MiB", Bytes: size}, conns)
	nets := []*soak.Net{soakUser(b), soakTAP(b)}
	for range b.N {
		for _, n := range nets {
			a := soak.Start(b, bin, n, "-site", site)
			s := soak.StartSampler(a, 200*time.Millisecond)
			m := httpload.Measure(b, []int{a.PID}, size, httpload.Load{URL: a.Base + "/1MiB.html",
				Threads: 2, Conns: conns, Duration: dur, NS: n.NS})
			samples, err := s.Stop()
			require.NoError(b, err)
			peak := slices.MaxFunc(samples, func(x, y soak.Sample) int { return int(x.Heap) - int(y.Heap) })
			b.ReportMetric(float64(m.PeakRSS)/(1<<20), n.Name+"-peak-RSS-MiB")
			b.ReportMetric(float64(peak.Heap)/(1<<20), n.Name+"-peak-heap-MiB")
			b.ReportMetric(m.ReqPerSec, n.Name+"-req/s")
			b.Logf("%s: 500 × 1 MiB: %.0f requests/s, peak resident %.0f MiB, peak Go heap objects %.0f MiB (%d connections then)",
				n.Name, m.ReqPerSec, float64(m.PeakRSS)/(1<<20), float64(peak.Heap)/(1<<20), peak.Conns)
			a.Signal(syscall.SIGKILL) // not a graceful stop: the next round needs the machine
		}
	}
}
