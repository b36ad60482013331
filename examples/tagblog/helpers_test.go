package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is the injectable clock of the tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// testNow is the fake clock's start: after every sample post but the one for 2099.
var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testSite serves a site for o on kernel loopback with a fake clock, and returns it with its
// base URL and the log it writes.
type testSite struct {
	*site
	clock *fakeClock
	base  string
	log   *bytes.Buffer
	mu    *sync.Mutex
}

// logBuffer is a goroutine-safe buffer for slog.
type logBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (l logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func startSite(t testing.TB, o options) *testSite {
	t.Helper()
	if o.domain == "" {
		o.domain = "localhost"
	}
	clock := &fakeClock{t: testNow}
	var mu sync.Mutex
	buf := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logBuffer{&mu, buf}, nil))
	s, err := newSite(o, clock.now, log)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.srv.Shutdown(ctx)
		<-done
	})
	return &testSite{site: s, clock: clock, base: "http://" + ln.Addr().String(), log: buf, mu: &mu}
}

// logged returns what the site has logged so far.
func (ts *testSite) logged() string { ts.mu.Lock(); defer ts.mu.Unlock(); return ts.buf().String() }

func (ts *testSite) buf() *bytes.Buffer { return ts.log }

// client does not follow redirects, so that they can be checked.
var client = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{DisableCompression: true}, // Accept-Encoding only when a test sends it
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get requests path with a Host value ("" for the default) and optional header fields.
func (ts *testSite) get(t testing.TB, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", ts.base+path, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// writePost writes a post file into dir.
func writePost(t testing.TB, dir, slug, title, date string, tags []string, body string) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"title": title, "date": date, "tags": tags, "body": body})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, slug+".json"), b, 0o644))
}
