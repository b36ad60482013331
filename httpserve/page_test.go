package httpserve

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
)

// pageApp is a small dynamic application: pages rendered from a generation and a clock.
type pageApp struct {
	gen     atomic.Uint64
	renders atomic.Int32
	mu      sync.Mutex
	now     time.Time
	expires time.Time
}

func (a *pageApp) clock() time.Time { a.mu.Lock(); defer a.mu.Unlock(); return a.now }

func (a *pageApp) advance(d time.Duration) { a.mu.Lock(); a.now = a.now.Add(d); a.mu.Unlock() }

func (a *pageApp) server(t testing.TB) (*Server, string) {
	a.now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mux := http.NewServeMux()
	mux.Handle("GET /posts/{slug}/", PageFunc(func(r *http.Request) (*Page, error) {
		a.renders.Add(1)
		slug := r.PathValue("slug")
		switch slug {
		case "missing":
			return &Page{Status: http.StatusNotFound, Body: []byte("<h1>no such post</h1>")}, nil
		case "broken":
			return nil, errors.New("template failed")
		}
		body := fmt.Sprintf("<h1>%s</h1><p>generation %d, label %q</p>\n%s", slug, a.gen.Load(),
			HostLabel(r), strings.Repeat("<p>the same paragraph, compressible</p>\n", 100))
		return &Page{Body: []byte(body), Expires: a.expires}, nil
	}))
	srv := New(&Config{Store: newTestStore(t), Routes: mux, Clock: a.clock, RoutesGeneration: a.gen.Load,
		Hosts: map[string]Store{"*.example.net": newTestStore(t)}})
	return srv, startServer(t, srv)
}

// TestPageKept checks that a PageFunc's page is rendered once and then served as a static
// file is (ETag, 304, Range, variants, HEAD), on the fast path and through ServeHTTP, until
// the generation changes or the page expires.
func TestPageKept(t *testing.T) {
	a := &pageApp{}
	srv, addr := a.server(t)

	r := both(t, srv, addr, "GET", "/posts/hello/")
	require.Equal(t, 200, r.status)
	require.Contains(t, r.body, "<h1>hello</h1><p>generation 0")
	require.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	require.Equal(t, "no-cache", r.header.Get("Cache-Control"))
	require.Equal(t, "Accept-Encoding", r.header.Get("Vary"))
	etag := r.header.Get("Etag")
	require.NotEmpty(t, etag)
	for range 20 {
		require.Equal(t, etag, both(t, srv, addr, "GET", "/posts/hello/").header.Get("Etag"))
	}
	require.EqualValues(t, 1, a.renders.Load(), "rendered once, then kept")

	r = both(t, srv, addr, "GET", "/posts/hello/", "If-None-Match", etag)
	require.Equal(t, 304, r.status)
	r = both(t, srv, addr, "GET", "/posts/hello/", "Range", "bytes=0-3")
	require.Equal(t, 206, r.status)
	require.Equal(t, "<h1>", r.body)
	r = both(t, srv, addr, "GET", "/posts/hello/", "Accept-Encoding", "gzip")
	require.Equal(t, "gzip", r.header.Get("Content-Encoding"))
	r = both(t, srv, addr, "GET", "/posts/hello/", "Accept-Encoding", "br")
	require.Equal(t, "br", r.header.Get("Content-Encoding"))
	r = both(t, srv, addr, "HEAD", "/posts/hello/")
	require.Equal(t, 200, r.status)
	require.Empty(t, r.body)
	require.EqualValues(t, 1, a.renders.Load())

	r = both(t, srv, addr, "GET", "/posts/hello/?utm=x")
	require.Equal(t, etag, r.header.Get("Etag"), "the query is not part of the page")
	require.EqualValues(t, 1, a.renders.Load())

	a.gen.Add(1)
	r = both(t, srv, addr, "GET", "/posts/hello/")
	require.Contains(t, r.body, "generation 1")
	require.NotEqual(t, etag, r.header.Get("Etag"))
	require.EqualValues(t, 2, a.renders.Load(), "rendered again for the new generation")

	r = both(t, srv, addr, "GET", "/posts/missing/")
	require.Equal(t, 404, r.status)
	require.Equal(t, "<h1>no such post</h1>", r.body)
	require.Empty(t, r.header.Get("Etag"))
	r = both(t, srv, addr, "GET", "/posts/missing/", "Accept-Encoding", "br, gzip")
	require.Empty(t, r.header.Get("Content-Encoding"), "error pages are not compressed")
	r = both(t, srv, addr, "GET", "/posts/broken/")
	require.Equal(t, 500, r.status)

	rc := dialRaw(t, addr)
	rc.send("GET /posts/x/ HTTP/1.1\r\nHost: Tag.example.net\r\n\r\n")
	_, body := rc.read("GET")
	require.Contains(t, body, `label "tag"`, "the PageFunc gets the wildcard's label")
	require.EqualValues(t, 0, srv.Stats().HandedOff, "pages stay on the fast path")
}

// TestPageExpires checks that a page is rendered again when its Expires passes by
// Config.Clock, not before.
func TestPageExpires(t *testing.T) {
	a := &pageApp{}
	srv, addr := a.server(t)
	a.expires = a.now.Add(time.Hour)
	both(t, srv, addr, "GET", "/posts/p/")
	a.advance(time.Hour - time.Nanosecond)
	both(t, srv, addr, "GET", "/posts/p/")
	require.EqualValues(t, 1, a.renders.Load())
	a.advance(time.Nanosecond)
	a.expires = a.now.Add(time.Hour) // the next scheduled change
	both(t, srv, addr, "GET", "/posts/p/")
	require.EqualValues(t, 2, a.renders.Load(), "expired at exactly its time")
}

// TestPageRenderedOnceUnderConcurrency checks that requests arriving together for a page not
// yet kept render it once.
func TestPageRenderedOnceUnderConcurrency(t *testing.T) {
	a := &pageApp{}
	_, addr := a.server(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			status, _ := hostGet(t, addr, "a", "/posts/together/")
			require.Equal(t, 200, status)
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, a.renders.Load())
}

// TestPageNoAlloc proves that a kept page costs what a static file costs on the fast path:
// no heap allocation per request.
func TestPageNoAlloc(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	a := &pageApp{}
	_, addr := a.server(t)
	for _, req := range []string{
		"GET /posts/hello/ HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br\r\nUser-Agent: test\r\n\r\n",
		"GET /posts/hello/ HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"nope\"\r\n\r\n",
		"HEAD /posts/hello/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /posts/hello/ HTTP/1.1\r\nHost: a\r\nRange: bytes=0-99,200-299\r\n\r\n",
		"GET /posts/hello/ HTTP/1.1\r\nHost: tag.example.net\r\n\r\n",
	} {
		cc := newCachedClient(t, addr, req)
		allocs.NoGC(t)
		for range 10 {
			require.NoError(t, cc.do())
		}
		var err error
		r := allocs.Measure(500, 0, func() {
			if e := cc.do(); e != nil {
				err = e
			}
		}).Per(1, "requests")
		require.NoError(t, err)
		require.Zero(t, r.Mallocs, "kept page %q: %v", req, r)
	}
}

// BenchmarkServePage measures a kept page over kernel loopback, as BenchmarkServeCached
// measures a static file: one kept-alive connection, request and response in turn.
func BenchmarkServePage(b *testing.B) {
	a := &pageApp{}
	_, addr := a.server(b)
	cc := newCachedClient(b, addr, "GET /posts/hello/ HTTP/1.1\r\nHost: a\r\n\r\n")
	runCached(b, cc, 1)
}
