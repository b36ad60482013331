package stacktest

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BulkChunk is what one iteration of RunBulk moves.
const BulkChunk = 1 << 20

// RunBulk moves b.N chunks of BulkChunk bytes from src to dst over an established TCP
// connection and reports the throughput in Gbit/s. The time runs until dst has read
// everything; the data is not generated or checked (Transfer does that), so the figure is
// the network path's, not the test's.
func RunBulk(b *testing.B, src, dst net.Conn) {
	b.Helper()
	b.SetBytes(BulkChunk)
	b.ReportAllocs()
	chunk := make([]byte, BulkChunk)
	got := drain(dst)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := src.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	closeWrite(b, src)
	n := <-got
	elapsed := time.Since(start)
	b.StopTimer()
	require.Equal(b, int64(b.N)*BulkChunk, n)
	b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e9, "Gbit/s")
}

// drain reads dst to its end in a goroutine and sends how many bytes it read.
func drain(dst net.Conn) <-chan int64 {
	got := make(chan int64, 1)
	go func() {
		n, _ := io.CopyBuffer(io.Discard, dst, make([]byte, 1<<20))
		got <- n
	}()
	return got
}

// closeWrite ends src's direction of the connection: a half-close where src has one, so the
// reader sees the end of the data, or else a close.
func closeWrite(b *testing.B, src net.Conn) {
	if cw, ok := src.(interface{ CloseWrite() error }); ok {
		require.NoError(b, cw.CloseWrite())
	} else {
		require.NoError(b, src.Close())
	}
}
