package httpload

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCPUMeter measures this process's busy loop: the machine's busy time and the process's
// both cover it.
func TestCPUMeter(t *testing.T) {
	m := StartCPU(t, os.Getpid())
	for start := rusageCPU(t); rusageCPU(t)-start < 100*time.Millisecond; {
	}
	machine, procs := m.Stop()
	require.GreaterOrEqual(t, procs, 50*time.Millisecond)
	require.GreaterOrEqual(t, machine, 50*time.Millisecond)
}
