package httpserve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFallbackGetsOnlyWhatHasNoContent checks that setting a Fallback changes nothing for
// content that exists: a GET with a body or with Expect is served (as without a Fallback),
// another method gets 405, and only paths with no content reach the Fallback.
func TestFallbackGetsOnlyWhatHasNoContent(t *testing.T) {
	var calls atomic.Int32
	fb := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "fallback "+r.Method)
	})
	for _, withFallback := range []bool{false, true} {
		cfg := &Config{Store: newTestStore(t)}
		if withFallback {
			cfg.Fallback = fb
		}
		srv := New(cfg)
		addr := startServer(t, srv)

		rc := dialRaw(t, addr)
		rc.send("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
		resp, body := rc.read("GET")
		assert.Equal(t, 200, resp.StatusCode, "GET with a body, fallback %v", withFallback)
		assert.Equal(t, "<h1>home</h1>", body)

		rc = dialRaw(t, addr)
		rc.send("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n")
		resp, body = rc.read("GET")
		assert.Equal(t, 200, resp.StatusCode, "GET with Expect, fallback %v", withFallback)
		assert.Equal(t, "<h1>home</h1>", body)

		for _, target := range []string{"/", "/about", "/blog"} {
			r := both(t, srv, addr, "POST", target)
			assert.Equal(t, 405, r.status, "POST %s, fallback %v", target, withFallback)
			assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
		}

		r := both(t, srv, addr, "POST", "/nope")
		if withFallback {
			assert.Equal(t, 200, r.status)
			assert.Equal(t, "fallback POST", r.body)
		} else {
			assert.Equal(t, 405, r.status)
		}
	}
	require.NotZero(t, calls.Load())
}

// TestRoutesTakePrecedence checks that a route shadows a file at its path for every method,
// while other paths stay on the allocation-free fast path.
func TestRoutesTakePrecedence(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/about", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "route "+r.Method)
	})
	mux.HandleFunc("GET /api/{name}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.PathValue("name"))
	})
	srv := New(&Config{Store: newTestStore(t), Routes: mux})
	addr := startServer(t, srv)

	r := both(t, srv, addr, "GET", "/blog/")
	require.Equal(t, "<h1>blog</h1>", r.body)
	require.EqualValues(t, 0, srv.Stats().HandedOff, "static content stays on the fast path")

	for _, m := range []string{"GET", "POST", "DELETE"} {
		r = both(t, srv, addr, m, "/about")
		require.Equal(t, 200, r.status)
		require.Equal(t, "route "+m, r.body, "about.html exists, but the route comes first")
	}
	r = both(t, srv, addr, "GET", "/api/x%20y")
	require.Equal(t, "hello x y", r.body)
	r = both(t, srv, addr, "POST", "/api/x")
	require.Equal(t, 405, r.status, "no route for POST, and no content")
	r = both(t, srv, addr, "GET", "/nope")
	require.Equal(t, 404, r.status)
	require.Equal(t, "<h1>not found</h1>", r.body)
}

// TestNoWiringLoops wires the Server under its own handlers in the ways a new user would:
// every request is answered (statically, once the Server sees itself), none recurses.
func TestNoWiringLoops(t *testing.T) {
	var srv *Server
	selfMux := func() *http.ServeMux {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
		mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.ServeHTTP(w, r) }))
		return mux
	}
	direct := func() *http.ServeMux {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
		mux.Handle("/", http.StripPrefix("", &lazyHandler{get: func() http.Handler { return srv }}))
		return mux
	}
	for name, cfg := range map[string]func() *Config{
		"fallback mux / = server":       func() *Config { return &Config{Store: newTestStore(t), Fallback: selfMux()} },
		"fallback mux / wraps server":   func() *Config { return &Config{Store: newTestStore(t), Fallback: direct()} },
		"routes mux / = server":         func() *Config { return &Config{Store: newTestStore(t), Routes: selfMux()} },
		"routes and fallback, the same": func() *Config { m := selfMux(); return &Config{Store: newTestStore(t), Routes: m, Fallback: m} },
	} {
		t.Run(name, func(t *testing.T) {
			srv = New(cfg())
			addr := startServer(t, srv)
			r := both(t, srv, addr, "GET", "/nope")
			require.Equal(t, 404, r.status)
			require.Equal(t, "<h1>not found</h1>", r.body)
			r = both(t, srv, addr, "GET", "/about")
			require.Equal(t, "<h1>about</h1>", r.body)
			r = both(t, srv, addr, "POST", "/about")
			require.Equal(t, 405, r.status)
			r = both(t, srv, addr, "GET", "/api/hello")
			require.Equal(t, "hello", r.body)
		})
	}
}

// lazyHandler calls the handler get returns, for wiring a Server into its own Config.
type lazyHandler struct{ get func() http.Handler }

func (h *lazyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.get().ServeHTTP(w, r) }

// TestServeStatic checks that a handler can serve statically: content, 405 for another
// method on content, the site's 404 page for the rest, and never the Fallback.
func TestServeStatic(t *testing.T) {
	var srv *Server
	var fallbacks atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fallbacks.Add(1)
		srv.ServeStatic(w, r)
	})
	srv = New(&Config{Store: newTestStore(t), Fallback: mux})

	serve := func(method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		srv.ServeStatic(rec, httptest.NewRequest(method, target, strings.NewReader("")))
		return rec
	}
	rec := serve("GET", "/about")
	require.Equal(t, 200, rec.Code)
	require.Equal(t, "<h1>about</h1>", rec.Body.String())
	rec = serve("POST", "/about")
	require.Equal(t, 405, rec.Code)
	require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
	rec = serve("GET", "/blog/nope")
	require.Equal(t, 404, rec.Code)
	require.Equal(t, "<h1>blog not found</h1>", rec.Body.String())
	rec = serve("POST", "/blog/nope")
	require.Equal(t, 405, rec.Code)
	require.Zero(t, fallbacks.Load(), "ServeStatic never calls the Fallback")

	addr := startServer(t, srv)
	r := both(t, srv, addr, "PUT", "/nope")
	require.Equal(t, 405, r.status, "the Fallback served it statically")
	require.EqualValues(t, 2, fallbacks.Load(), "once per request, fast path and ServeHTTP")
}
