package stacktest

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/httpload"
)

// BulkSecondsEnv is the environment variable that sets, in whole seconds, how long RunBulkFor
// moves data (BulkSeconds).
const BulkSecondsEnv = "UNIKIT_BULK_SECONDS"

// BulkSeconds is how long each repetition of a bulk benchmark lasts: BulkSecondsEnv, or 10 s.
// Long enough that slow start and the first window's growth are a small part of it and that
// CPU time, counted in 10 ms ticks, is read to within a fraction of a percent.
func BulkSeconds() time.Duration {
	if n, err := strconv.Atoi(os.Getenv(BulkSecondsEnv)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 10 * time.Second
}

// RunBulkFor moves chunks of BulkChunk bytes from src to dst over an established TCP
// connection for d, whatever b.N (run it with -benchtime 1x), and reports the throughput in
// Gbit/s and the CPU time it cost per GB (10^9 bytes) moved: machine-cpu-s/GB for the whole
// machine (/proc/stat: both endpoints, the kernel's work for them, anything else running)
// and proc-cpu-s/GB for this process (both Go endpoints and, for a stack, the stack and its
// link). The time runs until dst has read everything.
func RunBulkFor(b *testing.B, src, dst net.Conn, d time.Duration) {
	b.Helper()
	chunk := make([]byte, BulkChunk)
	got := drain(dst)
	b.ResetTimer()
	meter := httpload.StartCPU(b, os.Getpid())
	start := time.Now()
	var sent int64
	for time.Since(start) < d {
		n, err := src.Write(chunk)
		sent += int64(n)
		require.NoError(b, err)
	}
	closeWrite(b, src)
	n := <-got
	elapsed := time.Since(start)
	machine, proc := meter.Stop()
	b.StopTimer()
	require.Equal(b, sent, n)
	b.SetBytes(n / int64(b.N))
	gb := float64(n) / 1e9
	b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e9, "Gbit/s")
	b.ReportMetric(machine.Seconds()/gb, "machine-cpu-s/GB")
	b.ReportMetric(proc.Seconds()/gb, "proc-cpu-s/GB")
}
