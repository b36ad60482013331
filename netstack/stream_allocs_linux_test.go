package netstack_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/tap"
)

// The kernel's and the stack's addresses on the TAP segment of the stream measurements, in a
// namespace the test creates.
var (
	streamKernel = netip.MustParsePrefix("10.77.0.1/24")
	streamStack  = netip.MustParsePrefix("10.77.0.2/24")
)

// tapStreamCases are the TAP configurations streams are measured over: with offloads (the
// stack sends 64 KiB TSO super-frames, the kernel sends GRO-merged frames up to 64 KiB), and
// without (1514-byte frames both ways).
var tapStreamCases = []struct {
	name string
	cfg  *tap.Config
}{
	{"offload", nil},
	{"no-offload", &tap.Config{NoOffload: true}},
}

// tapStream is one stack on a TAP link whose other side is the Linux kernel in a namespace the
// test made, with an established TCP connection between a stack socket and a kernel socket.
// The kernel's side is Go code on kernel sockets, which allocates nothing per read or write,
// so what a measurement counts is the stack's: one direction at a time, unlike the pipe's
// two stacks.
type tapStream struct {
	link          *tap.Link
	s             *netstack.Stack
	stack, kernel net.Conn
}

// newTAPStream sets up a tapStream; the stack dials the kernel when stackDials, else the
// kernel dials the stack.
func newTAPStream(tb testing.TB, cfg *tap.Config, stackDials bool) *tapStream {
	tb.Helper()
	peers.Root(tb)
	ns := netns.New(tb)
	l, err := tap.Open(netns.UniqueName("ukst"), cfg)
	require.NoError(tb, err)
	ns.MoveLink(tb, l.Name())
	ns.AddAddr(tb, l.Name(), streamKernel)
	ns.LinkUp(tb, l.Name())
	s, err := netstack.New(nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { s.Close() })
	_, err = s.AddNIC(l, &netstack.NICConfig{Addresses: []netip.Prefix{streamStack}, NoDHCP: true})
	require.NoError(tb, err)

	ts := &tapStream{link: l, s: s}
	if stackDials {
		var ln net.Listener
		require.NoError(tb, ns.Do(func() error {
			ln, err = net.Listen("tcp4", netip.AddrPortFrom(streamKernel.Addr(), 0).String())
			return err
		}))
		defer ln.Close()
		ts.kernel, ts.stack = dialAccept(tb, s, ln, ln.Addr().String())
		return ts
	}
	ln, err := s.Listen("tcp4", netip.AddrPortFrom(streamStack.Addr(), 0).String())
	require.NoError(tb, err)
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	require.NoError(tb, ns.Do(func() error {
		ts.kernel, err = net.Dial("tcp4", ln.Addr().String())
		return err
	}))
	tb.Cleanup(func() { ts.kernel.Close() })
	ts.stack = <-acc
	require.NotNil(tb, ts.stack, "accept")
	tb.Cleanup(func() { ts.stack.Close() })
	return ts
}

// TestStreamAllocsTAP measures the heap allocations per MiB of a bulk TCP stream between the
// stack and the Linux kernel over TAP, in steady state, in each direction: the stack sending
// (its segments out, the kernel's acknowledgements in) and the stack receiving.
func TestStreamAllocsTAP(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	for _, tc := range tapStreamCases {
		t.Run(tc.name+"/stack-sends", func(t *testing.T) {
			ts := newTAPStream(t, tc.cfg, true)
			c := measureStream(t, stacktest.NewStream(ts.stack, ts.kernel),
				map[string]link.Link{"data": ts.link, "ack": rxFrames{ts.link}})
			t.Logf("%s, stack sends: %v", tc.name, c)
			require.LessOrEqual(t, c.allocs.Mallocs, uint64(maxStreamMallocs), "%s, stack sends: %v", tc.name, c)
		})
		t.Run(tc.name+"/stack-receives", func(t *testing.T) {
			ts := newTAPStream(t, tc.cfg, false)
			c := measureStream(t, stacktest.NewStream(ts.kernel, ts.stack),
				map[string]link.Link{"data": rxFrames{ts.link}, "ack": ts.link})
			t.Logf("%s, stack receives: %v", tc.name, c)
			require.LessOrEqual(t, c.allocs.Mallocs, uint64(maxStreamMallocs), "%s, stack receives: %v", tc.name, c)
		})
	}
}

// BenchmarkStreamTAP is BenchmarkStreamPipe between the stack and the Linux kernel over TAP,
// in each direction; frames/MiB counts the frames of the data's direction.
func BenchmarkStreamTAP(b *testing.B) {
	for _, tc := range tapStreamCases {
		b.Run(tc.name+"/stack-sends", func(b *testing.B) {
			ts := newTAPStream(b, tc.cfg, true)
			benchStream(b, stacktest.NewStream(ts.stack, ts.kernel), ts.link)
		})
		b.Run(tc.name+"/stack-receives", func(b *testing.B) {
			ts := newTAPStream(b, tc.cfg, false)
			benchStream(b, stacktest.NewStream(ts.kernel, ts.stack), rxFrames{ts.link})
		})
	}
}

// rxFrames presents a link's received frames as its sent ones, for benchStream's frames/MiB.
type rxFrames struct{ *tap.Link }

// Stats returns the link's stats with TxFrames holding the received frames.
func (r rxFrames) Stats() link.Stats {
	s := r.Link.Stats()
	s.TxFrames = s.RxFrames
	return s
}
