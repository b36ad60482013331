package httpserve

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/kv"
)

// testSite is a small site as Jekyll or Hugo would emit it.
var testSite = map[string]string{
	"index.html":              "<h1>home</h1>",
	"about.html":              "<h1>about</h1>",
	"blog/index.html":         "<h1>blog</h1>",
	"blog/first/index.html":   "<h1>first post</h1>",
	"both.html":               "<h1>both file</h1>",
	"both/index.html":         "<h1>both dir</h1>",
	"404.html":                "<h1>not found</h1>",
	"blog/404.html":           "<h1>blog not found</h1>",
	"assets/app.3f2a9c1b.css": strings.Repeat("body { color: red; }\n", 100),
	"assets/logo.png":         "\x89PNG fake",
	"robots.txt":              "User-agent: *\n",
	"feed.xml":                "<rss/>",
	".env":                    "SECRET=1",
	".git/config":             "[core]",
	"evil.com/index.html":     "<h1>a directory named evil.com</h1>",
	"big.txt":                 strings.Repeat("0123456789", 1000),
	"empty.txt":               "",
	"_headers":                "/assets/*\n  X-Asset: yes\n/about\n  X-Frame-Options: DENY\n",
	"_redirects": "/old /about 301\n/go/* /blog/:splat 302\n/rewrite /about.html 200\n" +
		"/gone /404.html 410\n/about /blog 301\n/forced /blog/ 302!\n/news/:year/:slug /blog/:slug?y=:year 301\n" +
		"/x/* /:splat 301\n",
}

// newTestStore returns a kv.Mem holding testSite, with gzip and brotli variants.
func newTestStore(t testing.TB) *kv.Mem {
	t.Helper()
	m := kv.NewMem(&kv.MemConfig{Encodings: []string{kv.EncodingBrotli, kv.EncodingGzip}})
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for k, v := range testSite {
		require.NoError(t, m.SetMeta(k, []byte(v), kv.Meta{ModTime: mod}), k)
	}
	return m
}

// startServer serves srv on a kernel loopback listener and returns its address.
func startServer(t testing.TB, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return serveOn(t, srv, ln)
}

// serveOn serves srv on ln until the test ends and returns ln's address.
func serveOn(t testing.TB, srv *Server, ln net.Listener) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// rawConn is a client connection speaking raw HTTP/1.1.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	_, err := io.WriteString(r.c, s)
	require.NoError(r.t, err)
}

// read reads one response to a request with the given method.
func (r *rawConn) read(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	require.NoError(r.t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(r.t, err)
	resp.Body.Close()
	return resp, string(b)
}

// closed reports whether the server closed the connection (EOF on the next read).
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := r.br.ReadByte()
	return err == io.EOF || err != nil && strings.Contains(err.Error(), "reset")
}

// result is a response reduced to what tests compare.
type result struct {
	status int
	header http.Header
	body   string
}

// both runs a request through the fast path (raw HTTP/1.1 over loopback) and through
// ServeHTTP, requires the two to agree on status, body and the fields tests look at, and
// returns the fast path's result.
func both(t *testing.T, srv *Server, addr, method, target string, hdr ...string) result {
	t.Helper()
	rc := dialRaw(t, addr)
	var sb strings.Builder
	sb.WriteString(method + " " + target + " HTTP/1.1\r\nHost: example.org\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		sb.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	sb.WriteString("\r\n")
	rc.send(sb.String())
	resp, body := rc.read(method)
	fast := result{resp.StatusCode, resp.Header, body}

	req := httptest.NewRequest(method, "http://example.org/", nil)
	req.RequestURI = target
	if u, err := url.ParseRequestURI(target); err == nil {
		req.URL = u // as net/http's server sets it, for Routes and Fallback muxes
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	slow := result{rec.Code, rec.Header(), rec.Body.String()}
	require.Equal(t, fast.status, slow.status, "%s %s: fast path and ServeHTTP disagree on status", method, target)
	if method != "HEAD" {
		require.Equal(t, fast.body, slow.body, "%s %s: bodies differ", method, target)
	}
	for _, k := range []string{"Location", "Etag", "Content-Type", "Content-Encoding", "Cache-Control", "Vary", "Content-Range", "Allow", "X-Asset", "Last-Modified"} {
		require.Equal(t, fast.header.Get(k), slow.header.Get(k), "%s %s: field %s differs", method, target, k)
	}
	return fast
}

func leaktestCount() int { return runtime.NumGoroutine() }
