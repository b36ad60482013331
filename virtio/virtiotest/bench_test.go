package virtiotest_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// BenchmarkStackTCP measures bulk TCP from a stack behind the virtio-net driver and device
// model to a stack on a pipe, against the same two stacks on the bare pipe, with TSO/GRO
// offloads and without, split and packed rings.
func BenchmarkStackTCP(b *testing.B) {
	for _, bc := range []struct {
		name   string
		virtio bool
		packed bool
		feat   link.Features
	}{
		{"pipe/tso", false, false, stacktest.Offloads},
		{"virtio-split/tso", true, false, stacktest.Offloads},
		{"virtio-packed/tso", true, true, stacktest.Offloads},
		{"pipe/mtu1500", false, false, 0},
		{"virtio-split/mtu1500", true, false, 0},
		{"virtio-packed/mtu1500", true, true, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var s1, s2 *netstack.Stack
			if bc.virtio {
				s1, s2, _ = virtioPair(b, &pipe.Config{Features: bc.feat},
					&virtiotest.LoopbackConfig{Device: &virtiotest.NetConfig{Packed: bc.packed}})
			} else {
				s1, s2 = plainPair(b, &pipe.Config{Features: bc.feat})
			}
			ln, err := s2.Listen("tcp", ":5001")
			require.NoError(b, err)
			defer ln.Close()
			done := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- 0
					return
				}
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				done <- n
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := s1.Dial(ctx, "tcp", "10.0.0.2:5001")
			require.NoError(b, err)
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			<-done
		})
	}
}

// plainPair joins two stacks directly over a pipe.
func plainPair(tb testing.TB, cfg *pipe.Config) (s1, s2 *netstack.Stack) {
	a, bl, err := pipe.New(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { a.Close(); bl.Close() })
	return stacktest.Pair(tb, a, bl)
}
