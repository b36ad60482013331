package tap_test

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack/link/tap"
)

// BenchmarkTAPBulk measures bulk TCP between the stack and the Linux kernel over a TAP link at
// MTU 1500 with offloads, in both directions. The kernel side is a Go sink or source on kernel
// sockets created in the test namespace (see kernelSegment), the same program as in
// BenchmarkVethBulk/go, so the two compare the network paths rather than the endpoints.
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
			stacktest.RunBulk(b, sc, kc)
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
			stacktest.RunBulk(b, kc, sc)
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
// over a veth pair between two namespaces at MTU 1500. "go" uses the same Go source and sink
// as BenchmarkTAPBulk on kernel sockets; "iperf3" runs iperf3 for 3 s per iteration (use
// -benchtime=1x).
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
		stacktest.RunBulk(b, src, dst)
	})
	b.Run("iperf3", func(b *testing.B) {
		iperf := peers.Program(b, "iperf3", "iperf3")
		n1, n2, _, a2 := vethPair(b)
		port := "5201"
		_, out := n2.Start(b, iperf, "-s", "--forceflush", "-B", a2.String(), "-p", port)
		require.Eventually(b, func() bool { return strings.Contains(out.String(), "listening") }, 5*time.Second, 10*time.Millisecond)
		var total float64
		for range b.N {
			res, err := n1.Command(context.Background(), iperf, "-c", a2.String(), "-p", port,
				"-t", "3", "-J").Output()
			require.NoError(b, err, "%s", res)
			var r struct {
				End struct {
					SumReceived struct {
						BitsPerSecond float64 `json:"bits_per_second"`
					} `json:"sum_received"`
				} `json:"end"`
			}
			require.NoError(b, json.Unmarshal(res, &r))
			total += r.End.SumReceived.BitsPerSecond
		}
		b.ReportMetric(total/float64(b.N)/1e9, "Gbit/s")
	})
}
