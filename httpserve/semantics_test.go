package httpserve

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
)

func TestMethods(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	addr := startServer(t, srv)
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"} {
		r := both(t, srv, addr, m, "/about")
		require.Equal(t, 405, r.status, m)
		require.Equal(t, "GET, HEAD", r.header.Get("Allow"))
	}
	r := both(t, srv, addr, "HEAD", "/about")
	require.Equal(t, 200, r.status)
	require.Equal(t, "", r.body)
	require.Equal(t, strconv.Itoa(len(testSite["about.html"])), r.header.Get("Content-Length"))
}

func TestValidatorsAndConditionals(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	addr := startServer(t, srv)
	r := both(t, srv, addr, "GET", "/about")
	etag, lm := r.header.Get("Etag"), r.header.Get("Last-Modified")
	require.Regexp(t, `^"[0-9a-f]{32}"$`, etag)
	require.Equal(t, "Fri, 02 Jan 2026 03:04:05 GMT", lm)
	require.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
	require.Equal(t, "no-cache", r.header.Get("Cache-Control"))
	require.Equal(t, "DENY", r.header.Get("X-Frame-Options")) // from _headers
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))

	// Each encoding has its own strong ETag.
	id := both(t, srv, addr, "GET", "/big.txt")
	gz := both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "gzip")
	require.Equal(t, "gzip", gz.header.Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", gz.header.Get("Vary"))
	require.Equal(t, "Accept-Encoding", id.header.Get("Vary"))
	require.NotEqual(t, id.header.Get("Etag"), gz.header.Get("Etag"))
	br := both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "gzip, deflate, br, zstd")
	require.Equal(t, "br", br.header.Get("Content-Encoding"))
	require.NotEqual(t, gz.header.Get("Etag"), br.header.Get("Etag"))
	q := both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "br;q=0.1, gzip;q=0.9")
	require.Equal(t, "gzip", q.header.Get("Content-Encoding"))
	no := both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "br;q=0, gzip;q=0")
	require.Equal(t, "", no.header.Get("Content-Encoding"))
	require.Equal(t, testSite["big.txt"], no.body)
	star := both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "*")
	require.Equal(t, "br", star.header.Get("Content-Encoding"))
	require.Equal(t, "", r.header.Get("Vary")) // /about has no variants: nothing varies

	cases := []struct {
		hdr    []string
		status int
	}{
		{[]string{"If-None-Match", etag}, 304},
		{[]string{"If-None-Match", `"x", ` + etag}, 304},
		{[]string{"If-None-Match", "W/" + etag}, 304}, // weak comparison
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-None-Match", `"other"`}, 200},
		{[]string{"If-None-Match", ","}, 200},
		{[]string{"If-None-Match", `"unterminated`}, 200},
		{[]string{"If-None-Match", `"` + strings.TrimSuffix(strings.TrimPrefix(gz.header.Get("Etag"), `"`), `-gzip"`) + `"`}, 200},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", "Sat, 03 Jan 2026 00:00:00 GMT"}, 304},
		{[]string{"If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT"}, 200},
		{[]string{"If-Modified-Since", "garbage"}, 200},
		{[]string{"If-None-Match", `"other"`, "If-Modified-Since", lm}, 200}, // INM wins
		{[]string{"If-Match", etag}, 200},
		{[]string{"If-Match", "W/" + etag}, 412}, // strong comparison
		{[]string{"If-Match", `"other"`}, 412},
		{[]string{"If-Match", "*"}, 200},
		{[]string{"If-Unmodified-Since", "Thu, 01 Jan 2026 00:00:00 GMT"}, 412},
		{[]string{"If-Unmodified-Since", lm}, 200},
		{[]string{"If-Match", `"other"`, "If-None-Match", etag}, 412}, // If-Match first
	}
	for _, tc := range cases {
		r := both(t, srv, addr, "GET", "/about", tc.hdr...)
		require.Equal(t, tc.status, r.status, "%q", tc.hdr)
		if tc.status == 304 {
			require.Equal(t, "", r.body)
			require.Equal(t, etag, r.header.Get("Etag"))
			require.Equal(t, "no-cache", r.header.Get("Cache-Control"))
			require.Equal(t, "", r.header.Get("Content-Type"))
		}
	}
	// 304 of a compressed variant keeps Vary and its own ETag.
	r = both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "gzip", "If-None-Match", gz.header.Get("Etag"))
	require.Equal(t, 304, r.status)
	require.Equal(t, "Accept-Encoding", r.header.Get("Vary"))
}

func TestCacheControl(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	addr := startServer(t, srv)
	r := both(t, srv, addr, "GET", "/assets/app.3f2a9c1b.css")
	require.Equal(t, "public, max-age=31536000, immutable", r.header.Get("Cache-Control"))
	require.Equal(t, "text/css; charset=utf-8", r.header.Get("Content-Type"))
	require.Equal(t, "yes", r.header.Get("X-Asset"))
	r = both(t, srv, addr, "GET", "/missing")
	require.Equal(t, "no-cache", r.header.Get("Cache-Control"))
	require.Equal(t, "", r.header.Get("Etag"))
	r = both(t, srv, addr, "GET", "/robots.txt")
	require.Equal(t, "text/plain; charset=utf-8", r.header.Get("Content-Type"))

	for name, want := range map[string]bool{
		"app.3f2a9c1b.css": true, "assets/main-3f2a9c1bd0e4.js": true, "style.min.0123456789abcdef.css": true,
		"jquery-slideshow.js": false, "index.3f2a9c1b.html": false, "app.css": false, "deadbeef.js": false,
		"a.3f2a9c1.css": false,
	} {
		require.Equal(t, want, Fingerprinted(name), name)
	}
}

func TestRanges(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	addr := startServer(t, srv)
	big := testSite["big.txt"]
	r := both(t, srv, addr, "GET", "/big.txt", "Range", "bytes=10-19")
	require.Equal(t, 206, r.status)
	require.Equal(t, "bytes 10-19/10000", r.header.Get("Content-Range"))
	require.Equal(t, big[10:20], r.body)

	for _, tc := range []struct {
		rng, contentRange, body string
		status                  int
	}{
		{"bytes=-5", "bytes 9995-9999/10000", big[9995:], 206},
		{"bytes=9990-", "bytes 9990-9999/10000", big[9990:], 206},
		{"bytes=0-18446744073709551615", "bytes 0-9999/10000", big, 206},
		{"bytes=0-99999999999999999999999999", "bytes 0-9999/10000", big, 206},
		{"bytes=-18446744073709551615", "bytes 0-9999/10000", big, 206},
		{"bytes=-0", "bytes */10000", "", 416},
		{"bytes=10000-", "bytes */10000", "", 416},
		{"bytes=18446744073709551615-", "bytes */10000", "", 416},
		{"bytes=5-1", "", big, 200},
		{"items=0-1", "", big, 200},
		{"bytes=abc", "", big, 200},
		{"bytes=0-0", "bytes 0-0/10000", big[:1], 206},
		{" bytes=0-0 ", "bytes 0-0/10000", big[:1], 206},
		{"bytes=0-,0-", "", big, 200}, // overlap adding up to more than the whole
	} {
		r := both(t, srv, addr, "GET", "/big.txt", "Range", tc.rng)
		require.Equal(t, tc.status, r.status, tc.rng)
		require.Equal(t, tc.contentRange, r.header.Get("Content-Range"), tc.rng)
		if tc.status != 416 {
			require.Equal(t, tc.body, r.body, tc.rng)
		}
	}
	// Empty file: ranges ignored.
	r = both(t, srv, addr, "GET", "/empty.txt", "Range", "bytes=0-0")
	require.Equal(t, 200, r.status)

	// Thousands of ranges: ignored (200), not amplified.
	many := "bytes=" + strings.Repeat("0-0,", 5000) + "0-0"
	r = both(t, srv, addr, "GET", "/big.txt", "Range", many[:7000])
	require.Equal(t, 200, r.status)
	require.Equal(t, len(big), len(r.body))

	// Many tiny ranges under the cap whose framing outweighs the file: 200.
	r = both(t, srv, addr, "GET", "/robots.txt", "Range", "bytes=0-0,2-2,4-4")
	require.Equal(t, 200, r.status)

	// Multipart.
	r = both(t, srv, addr, "GET", "/big.txt", "Range", "bytes=0-9,100-109,-10")
	require.Equal(t, 206, r.status)
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/byteranges", mt)
	require.Equal(t, strconv.Itoa(len(r.body)), r.header.Get("Content-Length"))
	mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
	want := []struct{ cr, body string }{
		{"bytes 0-9/10000", big[:10]}, {"bytes 100-109/10000", big[100:110]}, {"bytes 9990-9999/10000", big[9990:]},
	}
	for _, w := range want {
		p, err := mr.NextPart()
		require.NoError(t, err)
		require.Equal(t, w.cr, p.Header.Get("Content-Range"))
		require.Equal(t, "text/plain; charset=utf-8", p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p)
		require.Equal(t, w.body, string(b))
	}
	_, err = mr.NextPart()
	require.Equal(t, io.EOF, err)

	// If-Range.
	full := both(t, srv, addr, "GET", "/big.txt")
	etag, lm := full.header.Get("Etag"), full.header.Get("Last-Modified")
	require.Equal(t, 206, both(t, srv, addr, "GET", "/big.txt", "Range", "bytes=0-0", "If-Range", etag).status)
	require.Equal(t, 206, both(t, srv, addr, "GET", "/big.txt", "Range", "bytes=0-0", "If-Range", lm).status)
	require.Equal(t, 200, both(t, srv, addr, "GET", "/big.txt", "Range", "bytes=0-0", "If-Range", "W/"+etag).status)
	require.Equal(t, 200, both(t, srv, addr, "GET", "/big.txt", "Range", "bytes=0-0", "If-Range", `"stale"`).status)
	require.Equal(t, 200, both(t, srv, addr, "GET", "/big.txt", "Range", "bytes=0-0", "If-Range", "Sat, 03 Jan 2026 00:00:00 GMT").status)

	// Ranges apply to the encoded bytes of a compressed variant.
	gz := both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "gzip")
	require.Equal(t, "gzip", gz.header.Get("Content-Encoding"))
	r = both(t, srv, addr, "GET", "/big.txt", "Accept-Encoding", "gzip", "Range", "bytes=0-3")
	require.Equal(t, 206, r.status)
	require.Equal(t, gz.body[:4], r.body)
	require.Equal(t, "gzip", r.header.Get("Content-Encoding"))
}

func TestParseRangeNoAlloc(t *testing.T) {
	out := make([]byteRange, 0, DefaultMaxRanges)
	r := allocs.Measure(100, 0, func() {
		out, _ = parseRange("bytes=0-10,20-30,-5", 1000, DefaultMaxRanges, out)
	})
	require.Zero(t, r.Mallocs, "%v", r)
}

func TestVirtualHosts(t *testing.T) {
	a, b := newTestStore(t), newTestStore(t)
	require.NoError(t, b.Set("index.html", []byte("<h1>site b</h1>")))
	srv := New(&Config{Store: a, Hosts: map[string]Store{"B.example": b}})
	addr := startServer(t, srv)
	for _, host := range []string{"b.example", "B.EXAMPLE:8080", "b.example."} {
		rc := dialRaw(t, addr)
		rc.send("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		_, body := rc.read("GET")
		require.Equal(t, "<h1>site b</h1>", body, host)
	}
	rc := dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: other\r\n\r\n")
	_, body := rc.read("GET")
	require.Equal(t, "<h1>home</h1>", body)
	// Absolute-form targets name the host.
	rc.send("GET http://b.example/ HTTP/1.1\r\nHost: other\r\n\r\n")
	_, body = rc.read("GET")
	require.Equal(t, "<h1>site b</h1>", body)
}

func TestContentChange(t *testing.T) {
	m := newTestStore(t)
	srv := New(&Config{Store: m})
	addr := startServer(t, srv)
	r := both(t, srv, addr, "GET", "/about")
	require.Equal(t, "<h1>about</h1>", r.body)
	require.NoError(t, m.Set("about.html", []byte("<h1>new about</h1>")))
	r = both(t, srv, addr, "GET", "/about")
	require.Equal(t, "<h1>new about</h1>", r.body)
	require.NoError(t, m.Set("_redirects", []byte("/about /blog/ 302!\n")))
	r = both(t, srv, addr, "GET", "/about")
	require.Equal(t, 302, r.status)
}

func TestFallback(t *testing.T) {
	mux := http.NewServeMux()
	var srv *Server
	mux.HandleFunc("POST /api/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("echo:"), b...))
	})
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { srv.NotFound(w, r) })
	srv = New(&Config{Store: newTestStore(t), Fallback: mux})
	addr := startServer(t, srv)
	rc := dialRaw(t, addr)
	// Static, then dynamic on the same connection (pipelined), then static again.
	rc.send("GET /about HTTP/1.1\r\nHost: x\r\n\r\nPOST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /api/hello HTTP/1.1\r\nHost: x\r\n\r\nGET /blog/ HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
	_, body := rc.read("GET")
	require.Equal(t, "<h1>about</h1>", body)
	_, body = rc.read("POST")
	require.Equal(t, "echo:abc", body)
	_, body = rc.read("GET")
	require.Equal(t, "hello", body)
	_, body = rc.read("GET")
	require.Equal(t, "<h1>blog</h1>", body)
	resp, body := rc.read("GET")
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "<h1>not found</h1>", body)
	require.EqualValues(t, 1, srv.Stats().HandedOff)
}
