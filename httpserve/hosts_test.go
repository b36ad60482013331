package httpserve

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/kv"
)

// hostGet sends one GET with a Host value on the fast path and returns the status and body.
func hostGet(t *testing.T, addr, host, target string) (int, string) {
	t.Helper()
	rc := dialRaw(t, addr)
	rc.send("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	resp, body := rc.read("GET")
	return resp.StatusCode, body
}

// TestWildcardHosts checks the choice of site by wildcard, and the label handlers get.
func TestWildcardHosts(t *testing.T) {
	site := func(s string) *kv.Mem {
		m := kv.NewMem(nil)
		require.NoError(t, m.Set("index.html", []byte(s)))
		return m
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /label", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "label="+HostLabel(r))
	})
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "fallback label="+HostLabel(r))
	})
	srv := New(&Config{
		Store:    site("default"),
		Hosts:    map[string]Store{"*.Example.org": site("tag"), "example.org": site("apex")},
		Routes:   mux,
		Fallback: fallback,
	})
	addr := startServer(t, srv)

	for host, want := range map[string]string{
		"ocaml.example.org":                      "tag",
		"OCaml.EXAMPLE.org:8080":                 "tag",
		"x-1.example.org.":                       "tag",
		"example.org":                            "apex",
		"a.b.example.org":                        "default",
		"-x.example.org":                         "default",
		"x_y.example.org":                        "default",
		".example.org":                           "default",
		"example.org.evil":                       "default",
		strings.Repeat("a", 64) + ".example.org": "default",
		strings.Repeat("a", 300):                 "default",
	} {
		status, body := hostGet(t, addr, host, "/")
		require.Equal(t, 200, status, host)
		require.Equal(t, want, body, host)
	}
	for host, want := range map[string]string{
		"OCaml.example.org": "label=ocaml",
		"example.org":       "label=",
		"a.b.example.org":   "label=",
		"foreign.net":       "label=",
	} {
		status, body := hostGet(t, addr, host, "/label")
		require.Equal(t, 200, status, host)
		require.Equal(t, want, body, host)
	}
	_, body := hostGet(t, addr, "blog.example.org", "/missing")
	require.Equal(t, "fallback label=blog", body)
	require.Empty(t, HostLabel(&http.Request{}), "a request the Server did not hand over has no label")
}
