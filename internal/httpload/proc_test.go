package httpload

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProcFigures reads this process's own CPU time and peak resident memory: the CPU time
// grows by what a busy loop spends, and the peak covers a buffer the test touched.
func TestProcFigures(t *testing.T) {
	pid := os.Getpid()
	before := CPUTime(t, pid)
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	}
	require.GreaterOrEqual(t, CPUTime(t, pid)-before, 50*time.Millisecond)

	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	require.GreaterOrEqual(t, PeakRSS(t, pid), int64(len(buf)))
	require.GreaterOrEqual(t, RSS(t, pid), int64(len(buf)))
	require.Equal(t, byte(255), buf[255])
}
