package appliance_test

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/internal/tlstest"
)

// lines is an io.Writer that hands each line written to it to a channel.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		l <- strings.TrimSuffix(line, "\n")
	}
	return len(p), nil
}

// running is an App.Run in progress on its own goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
	urls   []string // from the lines Run printed, in the order of the ports
	lines  []string
	out    lines // what Run prints after the ports' lines
}

// baseline returns the goroutine count to check leaks against, once os/signal's own goroutine
// (started by the first Notify, and never ended) runs.
func baseline() int {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	signal.Stop(c)
	return runtime.NumGoroutine()
}

// startRun registers an app on a fresh flag set with cfg, parses args, and runs it with ports
// until the test cancels it; it returns once Run printed its lines.
func startRun(t *testing.T, cfg *appliance.Config, args []string, ports ...appliance.Port) *running {
	t.Helper()
	if cfg == nil {
		cfg = &appliance.Config{}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := make(lines, 16)
	cfg.Flags, cfg.Out = fs, out
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	app := appliance.New(cfg)
	require.NoError(t, fs.Parse(args))
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), out: out}
	go func() { r.done <- app.Run(ctx, ports...) }()
	for range ports {
		select {
		case line := <-out:
			r.lines = append(r.lines, line)
			for f := range strings.FieldsSeq(line) {
				if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
					r.urls = append(r.urls, f)
				}
			}
		case err := <-r.done:
			t.Fatalf("Run returned before serving: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("Run printed nothing within 20 s")
		}
	}
	require.Len(t, r.urls, len(ports), "lines %q", r.lines)
	return r
}

// stop cancels the run and returns Run's result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// wait returns Run's result.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20 s")
	}
	return nil
}

// client has no keep-alive connections, so that none outlives a test.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func fetch(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return string(b)
}

func text(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) })
}

// TestRunAPIAndPprof runs an API on port 80 and net/http/pprof on port 6060 of one stack, with
// each -net value that has a host side here, fetches both from the host, and stops the run:
// Run returns nil and leaves no goroutine behind.
func TestRunAPIAndPprof(t *testing.T) {
	for _, mode := range []string{"user", "user,nic=virtio", "user,nic=xen", "kernel"} {
		t.Run(mode, func(t *testing.T) {
			before := baseline()
			r := startRun(t, nil, []string{"-net", mode, "-listen", "127.0.0.1:0"},
				appliance.Port{Number: 80, Handler: text("api")},
				appliance.Port{Number: 6060, Name: "pprof", Handler: debugMux()})
			require.True(t, strings.HasPrefix(r.lines[0], "serving on http://127.0.0.1:"), r.lines[0])
			require.True(t, strings.HasPrefix(r.lines[1], "serving pprof on http://127.0.0.1:"), r.lines[1])
			require.True(t, strings.HasSuffix(r.lines[1], "(-net "+mode+")"), r.lines[1])

			require.Equal(t, "api", fetch(t, client, r.urls[0]+"/"))
			require.Contains(t, fetch(t, client, r.urls[1]+"/debug/pprof/"), "goroutine")
			require.True(t, strings.HasPrefix(fetch(t, client, r.urls[1]+"/debug/pprof/goroutine?debug=1"), "goroutine profile:"))

			require.NoError(t, r.stop(t))
			_, err := client.Get(r.urls[0] + "/")
			require.Error(t, err, "still served after Run returned")
			leaktest.Settle(t, before)
		})
	}
}

// TestRunGracefulShutdown stops a run while a request is in progress: the listeners close at
// once, the request still completes, and only then does Run close the stack and return.
func TestRunGracefulShutdown(t *testing.T) {
	before := baseline()
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	r := startRun(t, nil, []string{"-listen", "127.0.0.1:0"}, appliance.Port{Number: 80, Handler: slow})
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get(r.urls[0] + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	r.cancel()
	// The stack's listener is closed: the user-mode network's forward finds nothing to
	// connect to and resets new connections.
	require.Eventually(t, func() bool {
		resp, err := client.Get(r.urls[0] + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	}, 10*time.Second, 10*time.Millisecond)
	select {
	case err := <-r.done:
		t.Fatalf("Run returned with a request in progress: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.Equal(t, "finished", <-got)
	require.NoError(t, r.wait(t))
	leaktest.Settle(t, before)
}

// TestRunShutdownTimeout stops a run whose request never finishes: after -shutdown-timeout
// its connection is cut, and Run returns nil all the same (the stop was asked for).
func TestRunShutdownTimeout(t *testing.T) {
	before := baseline()
	entered, release := make(chan struct{}), make(chan struct{})
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	r := startRun(t, nil, []string{"-listen", "127.0.0.1:0", "-shutdown-timeout", "200ms"},
		appliance.Port{Number: 80, Handler: stuck})
	reqErr := make(chan error, 1)
	go func() {
		resp, err := client.Get(r.urls[0] + "/")
		if err == nil {
			resp.Body.Close()
		}
		reqErr <- err
	}()
	<-entered
	began := time.Now()
	require.NoError(t, r.stop(t))
	took := time.Since(began)
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
	assert.Less(t, took, 5*time.Second)
	require.Error(t, <-reqErr, "the stuck request's connection is closed")
	close(release) // net/http does not end a handler's goroutine; the handler does
	leaktest.Settle(t, before)
}

// failingServer is a Server whose Serve fails at once.
type failingServer struct{}

var errBroken = errors.New("broken")

func (failingServer) Serve(ln net.Listener) error        { return errBroken }
func (failingServer) Shutdown(ctx context.Context) error { return nil }
func (failingServer) Close() error                       { return nil }

// TestRunServerFails serves two ports, one of whose servers fails: Run shuts the other down
// and returns the failure.
func TestRunServerFails(t *testing.T) {
	before := baseline()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	app := appliance.New(&appliance.Config{Flags: fs, Out: io.Discard, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, fs.Parse([]string{"-net", "kernel", "-listen", "127.0.0.1:0"}))
	err := app.Run(context.Background(),
		appliance.Port{Number: 80, Handler: text("fine")},
		appliance.Port{Number: 81, Server: failingServer{}})
	require.ErrorIs(t, err, errBroken)
	require.ErrorContains(t, err, "serving port 81")
	leaktest.Settle(t, before)
}

func TestRunRefuses(t *testing.T) {
	before := baseline()
	for _, tc := range []struct {
		name  string
		args  []string
		ports []appliance.Port
		err   string
	}{
		{"no handler", nil, []appliance.Port{{Number: 80}}, "exactly one of Handler and Server"},
		{"both", nil, []appliance.Port{{Number: 80, Handler: text(""), Server: failingServer{}}}, "exactly one of Handler and Server"},
		{"twice", nil, []appliance.Port{{Number: 80, Handler: text("")}, {Number: 80, Handler: text("")}}, "served once"},
		{"port 0", nil, []appliance.Port{{Handler: text("")}}, "served once"},
		{"bad flag", []string{"-net", "bogus"}, []appliance.Port{{Number: 80, Handler: text("")}}, "want user"},
		{"no network", []string{"-net", "socket:" + t.TempDir() + "/none.sock"}, []appliance.Port{{Number: 80, Handler: text("")}}, "-net socket:"},
		{"open timeout", []string{"-net", "user", "-open-timeout", "1ns"},
			[]appliance.Port{{Number: 80, Handler: text("")}}, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			app := appliance.New(&appliance.Config{Flags: fs, Out: io.Discard, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, fs.Parse(append([]string{"-listen", "127.0.0.1:0"}, tc.args...)))
			require.ErrorContains(t, app.Run(context.Background(), tc.ports...), tc.err)
		})
	}
	leaktest.Settle(t, before)
}

// TestRunTLS serves a Handler port over TLS, with HTTP/2 offered.
func TestRunTLS(t *testing.T) {
	before := baseline()
	cert := tlstest.New(t)
	r := startRun(t, nil, []string{"-listen", "127.0.0.1:0"},
		appliance.Port{Number: 443, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Proto)
		}), TLS: cert.ServerConfig()})
	require.True(t, strings.HasPrefix(r.urls[0], "https://127.0.0.1:"), r.urls[0])
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}, ForceAttemptHTTP2: true}
	require.Equal(t, "HTTP/2.0", fetch(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, r.urls[0]+"/"))
	tr.CloseIdleConnections()
	require.NoError(t, r.stop(t))
	leaktest.Settle(t, before)
}

// TestRunOpenedReachesHostLoopback checks Config.Opened and Config.HostLoopback: Opened is
// called with the open network before the ports are served, and under -net user the stack
// reaches a service on the host's loopback at the gateway address.
func TestRunOpenedReachesHostLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from the host")
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var got string
	cfg := &appliance.Config{HostLoopback: true, Opened: func(ctx context.Context, n *appliance.Network) error {
		c, err := n.Dial(ctx, "tcp", net.JoinHostPort(n.User().Gateway().String(), port))
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		got = string(b)
		return err
	}}
	r := startRun(t, cfg, []string{"-net", "user", "-listen", "127.0.0.1:0"}, appliance.Port{Number: 80, Handler: text("ok")})
	require.Equal(t, "hello from the host", got, "Opened ran before the ports were served")
	require.NoError(t, r.stop(t))

	fail := errors.New("no database")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	app := appliance.New(&appliance.Config{Flags: fs, Out: io.Discard, Logger: slog.New(slog.DiscardHandler),
		Opened: func(context.Context, *appliance.Network) error { return fail }})
	require.NoError(t, fs.Parse([]string{"-listen", "127.0.0.1:0"}))
	require.ErrorIs(t, app.Run(context.Background(), appliance.Port{Number: 80, Handler: text("ok")}), fail)
}
