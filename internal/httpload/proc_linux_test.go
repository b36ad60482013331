package httpload

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProcFigures reads this process's own CPU time and peak resident memory: the CPU time
// grows by what a busy loop spends, and the peak covers a buffer the test touched. The loop
// runs until getrusage, an independent account, has seen 100 ms of CPU, not for 100 ms of
// wall time: on a loaded machine the process may get a fraction of that.
func TestProcFigures(t *testing.T) {
	pid := os.Getpid()
	before := CPUTime(t, pid)
	for start := rusageCPU(t); rusageCPU(t)-start < 100*time.Millisecond; {
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

// rusageCPU returns the user and system CPU time of this process, from getrusage.
func rusageCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
