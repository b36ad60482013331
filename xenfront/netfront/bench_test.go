package netfront_test

import (
	"testing"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/xenfront/xentest"
)

// BenchmarkTransmit measures frames per second from netfront through the simulated netback
// (grant copy out of the pre-granted page, response, completion) to a pipe peer, in batches
// of 64 frames as the netstack adapter sends them.
//
//	go test ./xenfront/netfront -run XXX -bench . -benchtime 3s
func BenchmarkTransmit(b *testing.B) {
	for _, size := range []int{64, 1514} {
		b.Run(sizeName(size), func(b *testing.B) {
			r := newCountingRig(b, nil, &xentest.LoopbackConfig{DirectStore: true})
			benchFrames(b, r.lb, size, r.peerCount.Count)
		})
	}
}

// BenchmarkReceive measures frames per second from a pipe peer through the simulated netback
// (grant copy into the posted RX page) to netfront's receiver, which gets the page lent.
//
//	go test ./xenfront/netfront -run XXX -bench . -benchtime 3s
func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{64, 1514} {
		b.Run(sizeName(size), func(b *testing.B) {
			r := newCountingRig(b, nil, &xentest.LoopbackConfig{DirectStore: true})
			benchFrames(b, r.peer, size, r.front.Count)
		})
	}
}

func benchFrames(b *testing.B, l link.Link, size int, delivered func() int) {
	f := udpFrame(size, 1)
	batch := make([]link.Frame, 64)
	for i := range batch {
		batch[i] = link.Frame{Segments: [][]byte{f}}
	}
	for range 64 { // warm up pools and pipe buffers
		if _, err := l.Transmit(batch); err != nil {
			b.Fatal(err)
		}
	}
	start := delivered()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	report := allocs.Start(b)
	for sent := 0; sent < b.N; {
		n := min(len(batch), b.N-sent)
		k, err := l.Transmit(batch[:n])
		if err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	b.StopTimer()
	report(int64(b.N), "frame")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(delivered()-start)/float64(b.N), "delivered/op")
}

func sizeName(n int) string {
	if n == 64 {
		return "64B"
	}
	return "1514B"
}

// BenchmarkStackTCP measures bulk TCP (64 MiB per op, SHA-256 checked) between two netstack
// stacks joined by a pipe with TSO/GRO, once directly ("pipe") and once with one stack behind
// netfront and the simulated netback ("xen"), in the same run, so the cost of the rings shows.
//
//	go test ./xenfront/netfront -run XXX -bench StackTCP -benchtime 5x
func BenchmarkStackTCP(b *testing.B) {
	const size = 64 << 20
	b.Run("pipe", func(b *testing.B) {
		pa, pb, err := pipe.New(&pipe.Config{Features: stacktest.Offloads})
		if err != nil {
			b.Fatal(err)
		}
		s1, s2 := stacktest.Pair(b, pa, pb)
		benchTCP(b, s1, s2, size)
	})
	b.Run("xen", func(b *testing.B) {
		s1, s2, _ := xenPair(b, &pipe.Config{Features: stacktest.Offloads}, nil)
		benchTCP(b, s1, s2, size)
	})
}

func benchTCP(b *testing.B, s1, s2 *netstack.Stack, size int) {
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		transfer(b, s1, s2, size)
	}
}
