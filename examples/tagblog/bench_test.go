package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/httpload"
)

// writeManyPosts writes n posts of about 1 KiB under a fresh directory, over four years and
// twenty tags, and returns it.
func writeManyPosts(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	body := "A paragraph of *CommonMark* with `code` and a [link](/posts/p0/).\n\n"
	for range 12 {
		body += "More words to make a post of a realistic size for a small blog page.\n"
	}
	for i := range n {
		date := start.Add(time.Duration(i) * 3 * time.Hour).Format(time.RFC3339)
		tags := []string{fmt.Sprintf("tag%d", i%20), fmt.Sprintf("topic%d", i%7)}
		writePost(t, dir, fmt.Sprintf("p%d", i), fmt.Sprintf("Post number %d", i), date, tags, body)
	}
	return dir
}

// TestTenThousandPosts loads 10,000 posts, as the appliance does at start, and serves the
// first page, a deep page, a post, a tag and a feed from them; it logs the time to load and
// the heap they take.
func TestTenThousandPosts(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 files; skipped with -short")
	}
	dir := writeManyPosts(t, 10000)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	began := time.Now()
	s, err := newSite(options{posts: dir, domain: "localhost"}, func() time.Time { return testNow }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	took := time.Since(began)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), "Post number 9999")
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("10,000 posts: loaded and first page rendered in %v; heap %.1f MiB", took.Round(time.Millisecond),
		float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	require.Less(t, took, 10*time.Second, "far beyond the 1 s target even on a loaded machine")
	for path, want := range map[string]string{
		"/page/1000/":           "Post number 9",
		"/posts/p1234/":         "Post number 1234",
		"/tags/tag7/":           "Post number 9987",
		"/tags/topic3/feed.xml": "Post number 9999",
	} {
		rec := httptest.NewRecorder()
		s.srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		require.Equal(t, 200, rec.Code, path)
		require.Contains(t, rec.Body.String(), want, path)
	}
}

// BenchmarkStartTenThousandPosts measures, for 10,000 posts, the time from starting the
// appliance to its first successful response through the user-mode network (DHCP included)
// and its resident memory then:
//
//	go test ./examples/tagblog -run '^$' -bench StartTenThousand -benchtime 3x
func BenchmarkStartTenThousandPosts(b *testing.B) {
	bin := apptest.Build(b)
	dir := writeManyPosts(b, 10000)
	var total time.Duration
	var rss int64
	for range b.N {
		began := time.Now()
		cmd := exec.Command(bin, "-posts", dir, "-listen", "127.0.0.1:0")
		url := apptest.Start(b, cmd)
		resp, err := http.Get(url + "/")
		require.NoError(b, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
		total += time.Since(began)
		rss = max(rss, httpload.RSS(b, cmd.Process.Pid))
		cmd.Process.Kill()
		cmd.Wait()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-response")
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MiB")
}

// BenchmarkWrkPostVsStatic serves a rendered post page from the tagblog and the same bytes as
// a static file from the blog appliance, in the same run, each alone on CPU 1 with kernel
// sockets (-net kernel), to one wrk thread on CPU 0 over 50 keep-alive connections for
// UNIKIT_WRK_SECONDS (default 3) after a one-second warm-up, and reports the ratio of their
// requests/s (the target is at least 0.9) and of their CPU time per request:
//
//	go test ./examples/tagblog -run '^$' -bench WrkPostVsStatic -benchtime 1x
//
// It skips without wrk or taskset (or fails with UNIKIT_PEERS=require).
func BenchmarkWrkPostVsStatic(b *testing.B) {
	tagblog := apptest.Build(b)
	blog := filepath.Join(b.TempDir(), "blog")
	out, err := exec.Command("go", "build", "-o", blog, "../blog").CombinedOutput()
	require.NoError(b, err, "go build ../blog: %s", out)

	const path = "/posts/commonmark/"
	s, err := newSite(options{domain: "localhost"}, time.Now, slog.New(slog.DiscardHandler))
	require.NoError(b, err)
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	require.Equal(b, 200, rec.Code)
	page := rec.Body.Bytes()
	site := b.TempDir()
	require.NoError(b, os.MkdirAll(filepath.Join(site, path), 0o755))
	require.NoError(b, os.WriteFile(filepath.Join(site, path, "index.html"), page, 0o644))

	load := httpload.Load{Conns: 50, Duration: httpload.Seconds(3 * time.Second), CPUs: "0"}
	measure := func(name string, args ...string) httpload.Measurement {
		addr := freeAddr(b)
		args = append(args, "-net", "kernel", "-listen", addr)
		cmd := httpload.Start(b, nil, addr, httpload.Pinned(b, nil, "1", args[0], args[1:]...))
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		load.URL = "http://" + addr + path
		m := httpload.Measure(b, []int{cmd.Process.Pid}, len(page), load)
		b.Log(httpload.Report(b, name, m))
		return m
	}
	rendered := measure("rendered", tagblog)
	static := measure("static", blog, "-site", site)
	b.ReportMetric(rendered.ReqPerSec/static.ReqPerSec, "rps-vs-static")
	b.ReportMetric(float64(rendered.CPUPerRequest)/float64(static.CPUPerRequest), "cpu-vs-static")
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
