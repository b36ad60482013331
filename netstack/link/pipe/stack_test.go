package pipe_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// stackPair joins two stacks, 10.0.0.1 and 10.0.0.2, with a pipe configured by cfg. The
// addresses exist only inside the two in-process stacks.
func stackPair(tb testing.TB, cfg *pipe.Config) (s1, s2 *netstack.Stack, a, b *pipe.Link) {
	tb.Helper()
	a, b, err := pipe.New(cfg)
	require.NoError(tb, err)
	s1, s2 = stacktest.Pair(tb, a, b)
	return s1, s2, a, b
}

// connect dials a TCP connection from s1 to a listener on s2 and hands the accepted end to
// serve in a goroutine, for the benchmark, whose receiver discards rather than digests.
func connect(tb testing.TB, s1, s2 *netstack.Stack, serve func(net.Conn)) net.Conn {
	tb.Helper()
	ln, err := s2.Listen("tcp", ":5001")
	require.NoError(tb, err)
	tb.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			serve(nil)
			return
		}
		defer c.Close()
		serve(c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := s1.Dial(ctx, "tcp", "10.0.0.2:5001")
	require.NoError(tb, err)
	tb.Cleanup(func() { client.Close() })
	return client
}

// TestImpairedTransfer sends 64 MiB over TCP between two stacks across a pipe that loses 1%
// of frames, reorders 1%, duplicates 0.5% and corrupts 0.1%, and checks that every byte
// arrives intact. It runs once at MTU 1500 without offloads (about 46000 data frames, so
// hundreds of each impairment) and once with TSO/GRO super-frames, whose corruption the
// receiver must catch in a 64 KiB segment's checksum.
func TestImpairedTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB transfer")
	}
	const size = 64 << 20
	im := pipe.Impairments{Seed: 20260905, Loss: 0.01, Reorder: 0.01, Duplicate: 0.005, Corrupt: 0.001}
	for _, tc := range []struct {
		name string
		cfg  pipe.Config
	}{
		{"mtu1500", pipe.Config{Impair: im}},
		{"tso", pipe.Config{Features: stacktest.Offloads, Impair: im}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s1, s2, a, b := stackPair(t, &tc.cfg)
			elapsed := stacktest.Transfer(t, s1, s2, "10.0.0.2:5001", size, &stacktest.Options{
				Chunk: 256 << 10, Seed: [32]byte{1, 2, 3}, Wait: 120 * time.Second})
			sa, sb := a.Stats(), b.Stats()
			t.Logf("%s: 64 MiB in %v (%.2f Gbit/s); data direction: %d frames sent, %d dropped by the pipe; "+
				"reverse: %d frames", tc.name, elapsed.Round(time.Millisecond),
				float64(size)*8/elapsed.Seconds()/1e9, sa.TxFrames, sa.TxDropped, sb.TxFrames)
			require.Positive(t, sa.TxDropped, "the pipe did lose frames")
		})
	}
}

// BenchmarkStackToStack measures bulk TCP between two stacks over a pipe: with offloads
// (64 KiB TSO/GRO super-frames, no checksums computed) and at MTU 1500 without them.
func BenchmarkStackToStack(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  pipe.Config
	}{
		{"tso", pipe.Config{Features: stacktest.Offloads}},
		{"mtu1500", pipe.Config{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s1, s2, _, _ := stackPair(b, &bc.cfg)
			got := make(chan int64, 1)
			client := connect(b, s1, s2, func(server net.Conn) {
				var n int64
				if server != nil {
					n, _ = io.Copy(io.Discard, server)
				}
				got <- n
			})
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			start := time.Now()
			var sent int64
			for b.Loop() {
				n, err := client.Write(buf)
				if err != nil {
					b.Fatal(err)
				}
				sent += int64(n)
			}
			client.Close()
			n := <-got
			elapsed := time.Since(start)
			if n != sent {
				b.Fatalf("received %d of %d bytes", n, sent)
			}
			b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e9, "Gbit/s")
		})
	}
}
