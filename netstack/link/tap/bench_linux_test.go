package tap_test

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/httpload"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack/link/tap"
)

// BenchmarkTAPBulk measures bulk TCP between the stack and the Linux kernel over a TAP link at
// MTU 1500 with offloads, in both directions. The kernel side is a Go sink or source on kernel
// sockets created in the test namespace (see kernelSegment), the same program as in
// BenchmarkVethBulk/go, so the two compare the network paths rather than the endpoints. Each
// repetition moves data for stacktest.BulkSeconds (10 s; run it with -benchtime 1x) and
// reports Gbit/s and CPU seconds per GB, the whole machine's and this process's (the stack
// side, with the Go endpoint on the kernel socket); the machine's less the process's is the
// kernel's work done outside it (softirq receive processing):
//
//	go test ./netstack/link/tap -run '^$' -bench 'TAPBulk/offload' -benchtime 1x -count 3
func BenchmarkTAPBulk(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  *tap.Config
	}{{"offload", nil}, {"no-offload", &tap.Config{NoOffload: true}}} {
		b.Run(tc.name+"/stack-to-kernel", func(b *testing.B) {
			k := newKernelSegment(b, tc.cfg)
			kln := k.kernelListen(b, netip.AddrPortFrom(kernel4.Addr(), 0).String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sc, err := k.stack.Dial(ctx, "tcp", kln.Addr().String())
			require.NoError(b, err)
			defer sc.Close()
			kc, err := kln.Accept()
			require.NoError(b, err)
			defer kc.Close()
			stacktest.RunBulkFor(b, sc, kc, stacktest.BulkSeconds())
			reportOffload(b, k.link)
		})
		b.Run(tc.name+"/kernel-to-stack", func(b *testing.B) {
			k := newKernelSegment(b, tc.cfg)
			ln, err := k.stack.Listen("tcp", netip.AddrPortFrom(stack4.Addr(), 0).String())
			require.NoError(b, err)
			defer ln.Close()
			kc := k.kernelDial(b, ln.Addr().String())
			sc, err := ln.Accept()
			require.NoError(b, err)
			defer sc.Close()
			stacktest.RunBulkFor(b, kc, sc, stacktest.BulkSeconds())
			reportOffload(b, k.link)
		})
	}
}

// reportOffload reports the average size of the frames that crossed the link, which shows
// whether TSO and GRO were at work.
func reportOffload(b *testing.B, l *tap.Link) {
	st := l.Stats()
	if st.RxFrames > 0 {
		b.ReportMetric(float64(st.RxBytes)/float64(st.RxFrames), "rx-B/frame")
	}
	if st.TxFrames > 0 {
		b.ReportMetric(float64(st.TxBytes)/float64(st.TxFrames), "tx-B/frame")
	}
}

// vethPair joins two new namespaces with a veth pair at MTU 1500 and returns them with the
// addresses of their ends.
func vethPair(b *testing.B) (n1, n2 *netns.NS, a1, a2 netip.Addr) {
	peers.Root(b)
	n1, n2 = netns.New(b), netns.New(b)
	e1, e2 := netns.Veth(b, n1, n2)
	a1, a2 = netip.MustParseAddr("10.79.0.1"), netip.MustParseAddr("10.79.0.2")
	n1.AddAddr(b, e1, netip.PrefixFrom(a1, 24))
	n2.AddAddr(b, e2, netip.PrefixFrom(a2, 24))
	return n1, n2, a1, a2
}

// BenchmarkVethBulk is the reference for BenchmarkTAPBulk: bulk TCP from one kernel to another
// over a veth pair between two namespaces at MTU 1500, for stacktest.BulkSeconds per iteration
// (use -benchtime 1x). "iperf3", the primary anchor, runs iperf3's client and server; "go"
// uses the same Go source and sink as BenchmarkTAPBulk on kernel sockets. Both report Gbit/s
// and CPU seconds per GB moved: the whole machine's (/proc/stat) and, for iperf3, each side's
// as iperf3 counts it for its own process (sender-cpu-s/GB, receiver-cpu-s/GB), for "go" the
// test process's (both endpoints).
func BenchmarkVethBulk(b *testing.B) {
	b.Run("go", func(b *testing.B) {
		n1, n2, _, a2 := vethPair(b)
		var ln net.Listener
		require.NoError(b, n2.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", netip.AddrPortFrom(a2, 0).String())
			return err
		}))
		defer ln.Close()
		var src net.Conn
		require.NoError(b, n1.Do(func() error {
			var err error
			src, err = net.Dial("tcp", ln.Addr().String())
			return err
		}))
		defer src.Close()
		dst, err := ln.Accept()
		require.NoError(b, err)
		defer dst.Close()
		stacktest.RunBulkFor(b, src, dst, stacktest.BulkSeconds())
	})
	b.Run("iperf3", func(b *testing.B) {
		iperf := peers.Program(b, "iperf3", "iperf3")
		n1, n2, _, a2 := vethPair(b)
		port := "5201"
		_, out := n2.Start(b, iperf, "-s", "--forceflush", "-B", a2.String(), "-p", port)
		require.Eventually(b, func() bool { return strings.Contains(out.String(), "listening") }, 5*time.Second, 10*time.Millisecond)
		secs := strconv.Itoa(int(stacktest.BulkSeconds() / time.Second))
		var gbits, machine, sender, receiver float64
		for range b.N {
			meter := httpload.StartCPU(b)
			res, err := n1.Command(context.Background(), iperf, "-c", a2.String(), "-p", port,
				"-t", secs, "-J").Output()
			used, _ := meter.Stop()
			require.NoError(b, err, "%s", res)
			var r struct {
				End struct {
					SumReceived struct {
						Bytes         float64 `json:"bytes"`
						Seconds       float64 `json:"seconds"`
						BitsPerSecond float64 `json:"bits_per_second"`
					} `json:"sum_received"`
					CPU struct {
						Host   float64 `json:"host_total"`
						Remote float64 `json:"remote_total"`
					} `json:"cpu_utilization_percent"`
				} `json:"end"`
			}
			require.NoError(b, json.Unmarshal(res, &r))
			sum := r.End.SumReceived
			require.NotZero(b, sum.Bytes, "%s", res)
			gb := sum.Bytes / 1e9
			gbits += sum.BitsPerSecond / 1e9
			machine += used.Seconds() / gb
			// iperf3's CPU figures are percentages of one CPU over its test's time.
			sender += r.End.CPU.Host / 100 * sum.Seconds / gb
			receiver += r.End.CPU.Remote / 100 * sum.Seconds / gb
		}
		n := float64(b.N)
		b.ReportMetric(gbits/n, "Gbit/s")
		b.ReportMetric(machine/n, "machine-cpu-s/GB")
		b.ReportMetric(sender/n, "sender-cpu-s/GB")
		b.ReportMetric(receiver/n, "receiver-cpu-s/GB")
	})
}
