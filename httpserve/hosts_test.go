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

// FuzzHostFor feeds arbitrary Host values to the choice of site: a wildcard's label is always
// one valid lower-case DNS label that the host (lower-cased) starts with, and the key names a
// configured host.
func FuzzHostFor(f *testing.F) {
	for _, s := range []string{"a.example.org", "A.Example.ORG:80", "example.org", "a.b.example.org", "-.example.org",
		".example.org", "[::1]:80", "x.example.org.", strings.Repeat("a", 300), "\x00.example.org", "ü.example.org"} {
		f.Add(s)
	}
	m := kv.NewMem(nil)
	srv := New(&Config{Store: m, Hosts: map[string]Store{"*.example.org": m, "example.org": m}})
	f.Fuzz(func(t *testing.T, host string) {
		var lower [256]byte
		hs, key, label := srv.hostFor(host, &lower)
		if hs == nil {
			t.Fatalf("hostFor(%q): no site", host)
		}
		switch {
		case key == "":
			if label != "" {
				t.Fatalf("hostFor(%q): label %q without a key", host, label)
			}
		case label == "":
			if key != "example.org" {
				t.Fatalf("hostFor(%q): key %q", host, key)
			}
		default:
			if key != label+".example.org" || !validLabel([]byte(label)) || strings.ToLower(label) != label ||
				!strings.HasPrefix(strings.ToLower(host), label) {
				t.Fatalf("hostFor(%q) = %q, %q", host, key, label)
			}
		}
	})
}
