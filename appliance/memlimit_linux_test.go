package appliance

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemoryLimitAuto checks the default -memory-limit: 90% of what the process may use, which
// on Linux is known and at most the machine's memory; with GOMEMLIMIT set, that stays.
func TestMemoryLimitAuto(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	avail, from := memoryAvailable()
	require.Positive(t, avail)
	require.LessOrEqual(t, avail, meminfoTotal())
	require.NotEmpty(t, from)

	t.Setenv("GOMEMLIMIT", "")
	m := memoryLimit{auto: true}
	desc := m.apply()
	require.Equal(t, int64(float64(avail)*memoryLimitShare), debug.SetMemoryLimit(-1), desc)
	require.True(t, strings.Contains(desc, "90% of"), desc)

	t.Setenv("GOMEMLIMIT", "777MiB")
	debug.SetMemoryLimit(123 << 20)
	require.Equal(t, "GOMEMLIMIT=777MiB", m.apply())
	require.Equal(t, int64(123<<20), debug.SetMemoryLimit(-1), "auto changed the limit GOMEMLIMIT set")
}
