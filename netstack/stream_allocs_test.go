package netstack_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// streamWarmup is how many MiB a stream moves before it is measured: enough for slow start,
// the receive buffer's growth and every pool on the path to reach their steady state.
const streamWarmup = 32

// streamRun is how many MiB one measurement of a stream moves.
const streamRun = 64

// maxStreamMallocs bounds the heap allocations of a measured run of streamRun MiB. The path
// allocates nothing per frame, per segment or per Write, in either direction; what a run
// still counts now and then comes from events that no amount of data causes: a sync.Pool of
// gVisor's (buffers, segments, packets) or the adapter's scratch growing to a new high-water
// mark of packets in flight, the receive buffer's auto-tuning reaching a new high (24 bytes,
// see TestTCPConnAllocs), a neighbour probe and its answer (ARP, on TAP), a new OS thread
// of the runtime (seven allocations each; a busy machine makes the runtime start more).
// Runs count 0 to 11 on a quiet machine and up to 18 at a load of 12 on two cores; the
// bound leaves room for that and stays far below one allocation per frame (1088 with 64 KiB
// super-frames, 47,000 at MTU 1500, as before the stack had its own queueing discipline).
const maxStreamMallocs = 48

// streamCost is what a stream cost over a measured run: the process's heap allocations and
// the frames each link sent, in the attempt with the fewest allocations.
type streamCost struct {
	allocs allocs.Result
	frames map[string]uint64
}

// String reports the cost per MiB.
func (c streamCost) String() string {
	s := c.allocs.String()
	for _, name := range slices.Sorted(maps.Keys(c.frames)) {
		s += fmt.Sprintf("; %s %.1f frames/MiB", name, float64(c.frames[name])/float64(c.allocs.Calls))
	}
	return s
}

// measureStream warms st up and measures streamRun MiB of it, up to five times, keeping the
// run with the fewest allocations and stopping at the first with none (as allocs.Measure
// does; other goroutines of the test binary may allocate during a run). links are the links
// whose sent frames are reported. The collector is off from the warm-up on (allocs.NoGC).
func measureStream(tb testing.TB, st *stacktest.Stream, links map[string]link.Link) streamCost {
	tb.Helper()
	allocs.NoGC(tb)
	for range streamWarmup {
		st.MiB(tb)
	}
	var best streamCost
	for i := range 5 {
		before := make(map[string]uint64, len(links))
		for name, l := range links {
			before[name] = l.Stats().TxFrames
		}
		n := allocs.Count(streamRun, func() { st.MiB(tb) })
		if i == 0 || n < best.allocs.Mallocs {
			best.allocs = allocs.Result{Mallocs: n, Calls: streamRun}.Per(1, "MiB")
			best.frames = make(map[string]uint64, len(links))
			for name, l := range links {
				best.frames[name] = l.Stats().TxFrames - before[name]
			}
		}
		if best.allocs.Mallocs == 0 {
			break
		}
	}
	st.Sync(tb)
	return best
}

// pipeStreamCases are the pipe configurations streams are measured over: 64 KiB TSO/GRO
// super-frames, and plain 1514-byte frames.
var pipeStreamCases = []struct {
	name string
	cfg  *pipe.Config
}{
	{"tso", &pipe.Config{Features: stacktest.Offloads}},
	{"mtu1500", nil},
}

// streamPair joins two stacks with a pipe configured by cfg and returns an established TCP
// connection from the first (dialed) to the second (accepted), with the two links.
func streamPair(tb testing.TB, cfg *pipe.Config) (dialed, accepted net.Conn, a, b *pipe.Link) {
	tb.Helper()
	a, b, err := pipe.New(cfg)
	require.NoError(tb, err)
	s1, s2 := stacktest.Pair(tb, a, b)
	ln, err := s2.Listen("tcp4", ":0")
	require.NoError(tb, err)
	defer ln.Close()
	accepted, dialed = dialAccept(tb, s1, ln, net.JoinHostPort(addr2, port(ln.Addr())))
	return dialed, accepted, a, b
}

// dialAccept dials addr, where ln listens, from s and accepts; both ends are closed when the
// test ends.
func dialAccept(tb testing.TB, s *netstack.Stack, ln net.Listener, addr string) (accepted, dialed net.Conn) {
	tb.Helper()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialed, err := s.Dial(ctx, "tcp4", addr)
	require.NoError(tb, err)
	tb.Cleanup(func() { dialed.Close() })
	accepted = <-acc
	require.NotNil(tb, accepted, "accept")
	tb.Cleanup(func() { accepted.Close() })
	return accepted, dialed
}

// TestStreamAllocsPipe measures the heap allocations per MiB of a bulk TCP stream between two
// stacks over the pipe link, in steady state: both stacks' work (the sender's segments and the
// receiver's acknowledgements, the adapter in both directions, TCPConn's Write and Read) and
// the pipe's, since the count is the whole process's.
func TestStreamAllocsPipe(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	for _, tc := range pipeStreamCases {
		t.Run(tc.name, func(t *testing.T) {
			src, dst, a, b := streamPair(t, tc.cfg)
			c := measureStream(t, stacktest.NewStream(src, dst), map[string]link.Link{"data": a, "ack": b})
			t.Logf("%s: %v", tc.name, c)
			require.LessOrEqual(t, c.allocs.Mallocs, uint64(maxStreamMallocs), "%s: %v", tc.name, c)
		})
	}
}

// BenchmarkStreamPipe moves b.N MiB of a bulk TCP stream between two stacks over the pipe
// link; see benchStream for what it reports.
func BenchmarkStreamPipe(b *testing.B) {
	for _, tc := range pipeStreamCases {
		b.Run(tc.name, func(b *testing.B) {
			src, dst, a, _ := streamPair(b, tc.cfg)
			benchStream(b, stacktest.NewStream(src, dst), a)
		})
	}
}

// benchStream warms st up and moves b.N MiB through it with the garbage collector running, as
// in production. It reports the process's heap allocations per MiB ("mallocs/MiB", exact where
// allocs/op rounds down), which here include the refills of gVisor's buffer pools that each
// collection empties (the tests measure with the collector off, the path's own), the frames
// per MiB the data took on link data, and the throughput.
func benchStream(b *testing.B, st *stacktest.Stream, data link.Link) {
	for range streamWarmup {
		st.MiB(b)
	}
	st.Sync(b)
	b.SetBytes(stacktest.MiB)
	frames := data.Stats().TxFrames
	var before, after runtime.MemStats
	b.ResetTimer()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range b.N {
		st.MiB(b)
	}
	st.Sync(b)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	b.StopTimer()
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "mallocs/MiB")
	b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(b.N), "GCs/MiB")
	b.ReportMetric(float64(data.Stats().TxFrames-frames)/float64(b.N), "frames/MiB")
	b.ReportMetric(float64(b.N)*stacktest.MiB*8/elapsed.Seconds()/1e9, "Gbit/s")
}
