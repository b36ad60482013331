package appliance_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/leaktest"
)

// debugPaths are paths the debug listener serves, none of which the public port may.
var debugPaths = []string{
	"/debug/", "/debug/stats", "/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap",
	"/debug/pprof/cmdline", "/debug/flightrecorder", "/metrics", "/debug/netstack/connections",
	"/debug/netstack/graph", "/debug/netstack/frames.pcap",
}

// getToken fetches url with the bearer token (none if empty) and returns the status and body.
func getToken(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestDebugListener runs an app with -debug-listen, -debug-token and -memory-limit on each
// -net value with a host side: Run prints the debug listener's URL after the port's line; the
// public port answers 404 for every debug path; the debug port refuses requests without the
// token and serves them with it: /debug/stats reports the runtime's and the stack's figures
// (the memory limit among them), the goroutine profile is there as text, and /metrics.
func TestDebugListener(t *testing.T) {
	for _, mode := range []string{"user", "user,nic=virtio", "kernel"} {
		t.Run(mode, func(t *testing.T) {
			before := baseline()
			old := debug.SetMemoryLimit(-1)
			t.Cleanup(func() { debug.SetMemoryLimit(old) })
			public := http.NewServeMux()
			public.Handle("GET /{$}", text("up"))
			r := startRun(t, nil, []string{"-net", mode, "-listen", "127.0.0.1:0", "-debug-listen", "127.0.0.1:0",
				"-debug-token", "s3cret", "-debug-flightrecorder", "-memory-limit", "3GiB"},
				appliance.Port{Number: 80, Handler: public})
			var line string
			select {
			case line = <-r.out:
			case <-time.After(10 * time.Second):
				t.Fatal("no debug line")
			}
			url, ok := strings.CutPrefix(line, "debug on ")
			require.True(t, ok, "line %q", line)
			require.True(t, strings.HasPrefix(url, "http://127.0.0.1:") && strings.HasSuffix(url, "/debug/"), "line %q", line)
			require.NotEqual(t, strings.TrimSuffix(url, "/debug/"), r.urls[0], "the debug listener is on the public port")
			require.Equal(t, "up", fetch(t, client, r.urls[0]+"/"))
			root := strings.TrimSuffix(url, "/debug/")

			for _, p := range debugPaths {
				code, _ := getToken(t, r.urls[0]+p, "s3cret")
				require.Equal(t, http.StatusNotFound, code, "public port, %s", p)
				code, _ = getToken(t, root+p, "")
				require.Equal(t, http.StatusUnauthorized, code, "debug port without the token, %s", p)
				code, _ = getToken(t, root+p, "wrong")
				require.Equal(t, http.StatusUnauthorized, code, "debug port with a wrong token, %s", p)
			}

			code, body := getToken(t, url+"stats", "s3cret")
			require.Equal(t, http.StatusOK, code, body)
			var st appliance.DebugStats
			require.NoError(t, json.Unmarshal([]byte(body), &st))
			require.NotZero(t, st.Goroutines)
			require.NotZero(t, st.HeapObjects)
			require.GreaterOrEqual(t, st.RuntimeTotal, st.HeapObjects)
			require.Equal(t, uint64(3<<30), st.MemoryLimit)
			require.Equal(t, int64(3<<30), debug.SetMemoryLimit(-1))
			// The request for the stats is on a connection of the stack's, which they leave out.
			require.Eventually(t, func() bool {
				_, body := getToken(t, url+"stats", "s3cret")
				var now appliance.DebugStats
				return json.Unmarshal([]byte(body), &now) == nil && now.TCPEstablished == 0
			}, 10*time.Second, 20*time.Millisecond, "the debug listener's connection counted as established")

			code, body = getToken(t, url+"pprof/goroutine?debug=1", "s3cret")
			require.Equal(t, http.StatusOK, code)
			require.True(t, strings.HasPrefix(body, "goroutine profile: total "), body)
			code, body = getToken(t, url+"flightrecorder", "s3cret")
			require.Equal(t, http.StatusOK, code)
			require.NotEmpty(t, body)
			code, body = getToken(t, root+"/metrics", "s3cret")
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, body, "go_goroutines ")
			if mode != "kernel" {
				require.Contains(t, body, "unikit_tcp_segments_received_total ")
				code, body = getToken(t, url+"netstack/connections?format=json", "s3cret")
				require.Equal(t, http.StatusOK, code)
				require.Contains(t, body, `"state":"LISTEN"`)
				code, body = getToken(t, url+"netstack/graph", "s3cret")
				require.Equal(t, http.StatusOK, code, body)
				require.True(t, strings.HasPrefix(body, "<svg "), body)
			}

			req, err := http.NewRequest(http.MethodPost, url+"gc", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer s3cret")
			resp, err := client.Do(req)
			require.NoError(t, err)
			var after appliance.DebugStats
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&after))
			resp.Body.Close()
			require.Greater(t, after.GCCycles, st.GCCycles, "POST /debug/gc collected nothing")
			code, body = getToken(t, url, "s3cret")
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, body, "/debug/pprof/")
			require.Contains(t, body, "GET /debug/stats")
			require.NoError(t, r.stop(t))
			leaktest.Settle(t, before)
		})
	}
}

// TestDebugListenerOff checks that without -debug-listen no debug line is printed and the
// public port has none of the debug paths.
func TestDebugListenerOff(t *testing.T) {
	public := http.NewServeMux()
	public.Handle("GET /{$}", text("up"))
	r := startRun(t, nil, []string{"-listen", "127.0.0.1:0"}, appliance.Port{Number: 80, Handler: public})
	for _, p := range debugPaths {
		code, _ := getToken(t, r.urls[0]+p, "")
		require.Equal(t, http.StatusNotFound, code, p)
	}
	select {
	case line := <-r.out:
		t.Fatalf("unexpected line %q", line)
	default:
	}
	require.NoError(t, r.stop(t))
}

// TestBadDebugFlags checks what Run refuses: a token without a listener, a debug port the
// application serves, and more than one address.
func TestBadDebugFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-debug-token", "x"},
		{"-debug-flightrecorder"},
		{"-debug-listen", "127.0.0.1:0=80"},
		{"-debug-listen", "127.0.0.1:0,127.0.0.1:0"},
		{"-debug-listen", "nonsense"},
	} {
		fs := newFlagSet()
		app := appliance.New(&appliance.Config{Flags: fs, Out: io.Discard})
		require.NoError(t, fs.Parse(append([]string{"-listen", "127.0.0.1:0"}, args...)))
		err := app.Run(context.Background(), appliance.Port{Number: 80, Handler: text("up")})
		require.ErrorIs(t, err, appliance.ErrBadFlag, "%q", args)
	}
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
