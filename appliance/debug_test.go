package appliance_test

import (
	"encoding/json"
	"flag"
	"io"
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/leaktest"
)

// TestDebugListener runs an app with -debug and -memory-limit: Run prints the debug
// listener's URL after the port's line, /debug/stats reports the runtime's and the stack's
// figures (the memory limit among them), and the goroutine profile is there as text.
func TestDebugListener(t *testing.T) {
	before := baseline()
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	r := startRun(t, nil, []string{"-listen", "127.0.0.1:0", "-debug", "127.0.0.1:0", "-memory-limit", "3GiB"},
		appliance.Port{Number: 80, Handler: text("up")})
	var line string
	select {
	case line = <-r.out:
	case <-time.After(10 * time.Second):
		t.Fatal("no debug line")
	}
	url, ok := strings.CutPrefix(line, "debug on ")
	require.True(t, ok, "line %q", line)
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:") && strings.HasSuffix(url, "/debug/"), "line %q", line)
	require.Equal(t, "up", fetch(t, client, r.urls[0]+"/"))

	var st appliance.DebugStats
	require.NoError(t, json.Unmarshal([]byte(fetch(t, client, url+"stats")), &st))
	require.NotZero(t, st.Goroutines)
	require.NotZero(t, st.HeapObjects)
	require.GreaterOrEqual(t, st.RuntimeTotal, st.HeapObjects)
	require.NotZero(t, st.GCCycles+1) // present, possibly zero
	require.Equal(t, uint64(3<<30), st.MemoryLimit)
	require.Equal(t, int64(3<<30), debug.SetMemoryLimit(-1))

	require.True(t, strings.HasPrefix(fetch(t, client, url+"pprof/goroutine?debug=1"), "goroutine profile: total "))
	resp, err := client.Post(url+"gc", "", nil)
	require.NoError(t, err)
	var after appliance.DebugStats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&after))
	resp.Body.Close()
	require.Greater(t, after.GCCycles, st.GCCycles, "POST /debug/gc collected nothing")
	require.Contains(t, fetch(t, client, url), "/debug/pprof/heap")
	require.NoError(t, r.stop(t))
	leaktest.Settle(t, before)
}

// TestMemoryLimitOff checks -memory-limit off, which lifts any limit.
func TestMemoryLimitOff(t *testing.T) {
	old := debug.SetMemoryLimit(1 << 30)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	r := startRun(t, nil, []string{"-listen", "127.0.0.1:0", "-memory-limit", "off"},
		appliance.Port{Number: 80, Handler: text("up")})
	require.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1))
	require.NoError(t, r.stop(t))
}

// newFlagSet is a flag set that reports errors without printing them.
func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// TestBadMemoryLimit checks that -memory-limit refuses what is not a size and writes back
// what it accepts.
func TestBadMemoryLimit(t *testing.T) {
	for _, v := range []string{"", "12XB", "-1", "0", "1.5GiB", "GiB", "99999999999TiB"} {
		fs := newFlagSet()
		appliance.New(&appliance.Config{Flags: fs})
		require.ErrorContains(t, fs.Parse([]string{"-memory-limit", v}), "is not a size", v)
	}
	for v, want := range map[string]string{"512MiB": "512MiB", "1048576": "1MiB", "auto": "auto", "off": "off", "1000B": "1000B", "2GiB": "2GiB"} {
		fs := newFlagSet()
		appliance.New(&appliance.Config{Flags: fs})
		require.NoError(t, fs.Parse([]string{"-memory-limit", v}))
		require.Equal(t, want, fs.Lookup("memory-limit").Value.String())
	}
}
