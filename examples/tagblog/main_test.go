package main

import (
	"encoding/xml"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden renders every route of the sample blog, at a fixed time, and compares it with
// its golden file (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	ts := startSite(t, options{})
	for _, c := range []struct {
		name, host, path string
		status           int
	}{
		{"index", "", "/", 200},
		{"page-2", "", "/page/2/", 200},
		{"post", "", "/posts/commonmark/", 200},
		{"tag", "", "/tags/http/", 200},
		{"tag-subdomain", "http.localhost", "/", 200},
		{"feed", "", "/feed.xml", 200},
		{"tag-feed", "", "/tags/http/feed.xml", 200},
		{"tag-subdomain-feed", "http.localhost", "/feed.xml", 200},
		{"not-found", "", "/nope", 404},
		{"unknown-post", "", "/posts/nope/", 404},
		{"unknown-tag", "", "/tags/nope/", 404},
		{"unknown-tag-subdomain", "nope.localhost", "/", 404},
		{"page-3", "", "/page/3/", 404},
		{"page-1", "", "/page/1/", 404},
	} {
		resp, body := ts.get(t, c.host, c.path)
		require.Equal(t, c.status, resp.StatusCode, c.name)
		ext := ".html"
		if strings.HasSuffix(c.path, ".xml") {
			ext = ".xml"
			require.Equal(t, "application/atom+xml; charset=utf-8", resp.Header.Get("Content-Type"))
		} else {
			require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), c.name)
		}
		golden := filepath.Join("testdata", "golden", c.name+ext)
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
			require.NoError(t, os.WriteFile(golden, []byte(body), 0o644))
			continue
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err)
		require.Equal(t, string(want), body, "%s: %s differs from %s", c.name, c.path, golden)
	}
	_, notFound := ts.get(t, "", "/posts/nope/")
	_, static404 := ts.get(t, "", "/no/such/file")
	require.Equal(t, notFound, static404, "one 404 page for unknown posts and unknown paths")
}

// TestRedirects checks the permanent redirects to the canonical URLs, never built from Host.
func TestRedirects(t *testing.T) {
	ts := startSite(t, options{})
	for path, want := range map[string]string{
		"/posts/commonmark": "/posts/commonmark/",
		"/tags/http":        "/tags/http/",
		"/page/2":           "/page/2/",
		"/posts/a%20b":      "/posts/a%20b/",
	} {
		resp, _ := ts.get(t, "evil.example", path)
		require.Equal(t, http.StatusMovedPermanently, resp.StatusCode, path)
		require.Equal(t, want, resp.Header.Get("Location"), path)
	}
}

// TestStaticAssets checks the embedded stylesheet, -static, and that -static files are
// served statically on every host.
func TestStaticAssets(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "logo.svg"), []byte("<svg/>"), 0o644))
	ts := startSite(t, options{static: dir})
	resp, body := ts.get(t, "", "/style.css")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, "max-width")
	resp, body = ts.get(t, "go.localhost", "/logo.svg")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "<svg/>", body)
	require.Equal(t, "image/svg+xml; charset=utf-8", resp.Header.Get("Content-Type"))
}

// TestETagOnRenderedPages checks strong ETags and 304 on rendered pages and feeds, and that
// a page is rendered once.
func TestETagOnRenderedPages(t *testing.T) {
	ts := startSite(t, options{})
	for _, path := range []string{"/", "/posts/etags/", "/tags/http/", "/feed.xml"} {
		resp, _ := ts.get(t, "", path)
		etag := resp.Header.Get("Etag")
		require.Regexp(t, `^"[0-9a-f]{32}"$`, etag, path)
		require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
		resp, body := ts.get(t, "", path, "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, resp.StatusCode, path)
		require.Empty(t, body)
		resp, _ = ts.get(t, "", path, "Accept-Encoding", "br")
		require.Equal(t, "br", resp.Header.Get("Content-Encoding"), path)
		require.NotEqual(t, etag, resp.Header.Get("Etag"), "each variant has its own tag")
	}
	require.EqualValues(t, 0, ts.srv.Stats().HandedOff, "rendered pages stay on the fast path")
}

// TestFuturePostAppearsOnTime moves the clock to a post's date: one nanosecond before it no
// route or feed mentions it, at its date every one does, without a reload.
func TestFuturePostAppearsOnTime(t *testing.T) {
	dir := t.TempDir()
	for i, d := range []string{"2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"} {
		writePost(t, dir, "old-"+string(rune('a'+i)), "Old post", d, []string{"shared"}, "old")
	}
	writePost(t, dir, "scheduled", "Scheduled post", "2026-03-01T12:00:00+01:00", []string{"shared", "newtag"}, "soon")
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	ts := startSite(t, options{posts: dir})

	type check struct{ host, path string }
	mentions := []check{{"", "/"}, {"", "/tags/shared/"}, {"shared.localhost", "/"}, {"", "/feed.xml"},
		{"", "/tags/shared/feed.xml"}, {"shared.localhost", "/feed.xml"}}
	exists := []check{{"", "/posts/scheduled/"}, {"", "/tags/newtag/"}, {"newtag.localhost", "/"}, {"", "/tags/newtag/feed.xml"}}

	for _, now := range []time.Time{testNow, at.Add(-time.Nanosecond)} {
		ts.clock.set(now)
		for _, c := range mentions {
			resp, body := ts.get(t, c.host, c.path)
			require.Equal(t, 200, resp.StatusCode, "%v %+v", now, c)
			require.NotContains(t, body, "scheduled", "%v %+v", now, c)
			require.NotContains(t, body, "Scheduled post", "%v %+v", now, c)
		}
		for _, c := range exists {
			resp, body := ts.get(t, c.host, c.path)
			require.Equal(t, 404, resp.StatusCode, "%v %+v", now, c)
			require.NotContains(t, body, "Scheduled post")
		}
	}
	ts.clock.set(at)
	for _, c := range mentions {
		resp, body := ts.get(t, c.host, c.path)
		require.Equal(t, 200, resp.StatusCode, "%+v", c)
		require.Contains(t, body, "Scheduled post", "%+v at its date", c)
	}
	for _, c := range exists {
		resp, body := ts.get(t, c.host, c.path)
		require.Equal(t, 200, resp.StatusCode, "%+v at its date", c)
		require.Contains(t, body, "Scheduled post", "%+v", c)
	}
}

// TestEscaping checks that hostile titles, tags, slugs and bodies are escaped in HTML text,
// attributes and Atom, and that raw HTML in a body is not passed through.
func TestEscaping(t *testing.T) {
	dir := t.TempDir()
	title := `<script>alert("t")</script> & 'quotes'`
	tag := `<b>"&'`
	slug := `a<b&"c'd`
	body := "Hello <img src=x onerror=alert(1)> and <script>alert(2)</script>\n\n[link](javascript:alert(3))"
	writePost(t, dir, slug, title, "2025-05-05T05:05:05Z", []string{tag}, body)
	ts := startSite(t, options{posts: dir})

	for _, path := range []string{"/", "/posts/" + pathEscape(slug) + "/", "/tags/" + pathEscape(tag) + "/"} {
		resp, page := ts.get(t, "", path)
		require.Equal(t, 200, resp.StatusCode, path)
		for _, raw := range []string{"<script", "<b>", `"&'`, "<img", "onerror=alert", "javascript:"} {
			require.NotContains(t, page, raw, "%s: %q unescaped", path, raw)
		}
		require.Contains(t, page, "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; &amp; &#39;quotes&#39;", path)
	}
	_, post := ts.get(t, "", "/posts/"+pathEscape(slug)+"/")
	require.Contains(t, post, `href="/tags/%3Cb%3E%22&amp;%27/"`, "tag in an attribute")

	resp, feed := ts.get(t, "", "/feed.xml")
	require.Equal(t, 200, resp.StatusCode)
	var f atomFeed
	require.NoError(t, xml.Unmarshal([]byte(feed), &f))
	require.Len(t, f.Entries, 1)
	require.Equal(t, title, f.Entries[0].Title, "Atom carries the title exactly")
	require.Equal(t, tag, f.Entries[0].Categories[0].Term)
	require.NotContains(t, f.Entries[0].Content.Body, "<script")
	require.NotContains(t, f.Entries[0].Content.Body, "<img")
	require.NotContains(t, feed, "<script")
}

// pathEscape escapes a path segment as the templates do.
func pathEscape(s string) string {
	return strings.NewReplacer("<", "%3C", ">", "%3E", "&", "&", `"`, "%22", "'", "%27").Replace(s)
}

// TestHostileHosts checks that long, malformed and foreign Host values get the main site, and
// that no Host value is written into a page.
func TestHostileHosts(t *testing.T) {
	ts := startSite(t, options{})
	_, main := ts.get(t, "", "/")
	_, mainPost := ts.get(t, "", "/posts/etags/")
	for _, host := range []string{
		"evil.example", "EVIL.example:1234", strings.Repeat("x", 255) + ".localhost",
		strings.Repeat("a", 4000), "a.b.localhost", "-x.localhost", "x_y.localhost", "localhost.evil",
		"%3Cscript%3E.localhost", "[::1]:80", "127.0.0.1", "www.localhost",
	} {
		resp, body := ts.get(t, host, "/")
		if resp.StatusCode == http.StatusBadRequest {
			continue // refused by the parser: nothing written at all
		}
		require.Equal(t, 200, resp.StatusCode, host)
		require.Equal(t, main, body, "Host %q gets the main site", host)
		_, body = ts.get(t, host, "/posts/etags/")
		require.Equal(t, mainPost, body, host)
	}
	// Host values with markup reach the server too: the main site, with nothing of them.
	for _, host := range []string{"a<b>c", `"><script>x</script>`, "x'y.localhost"} {
		resp, body := ts.get(t, host, "/")
		if resp.StatusCode == http.StatusBadRequest {
			continue
		}
		require.Equal(t, main, body, "Host %q gets the main site", host)
		require.NotContains(t, body, "<script>x")
	}
}

// TestBadPostSkipped checks that a post file that is not JSON, or not a valid post, is
// reported with its name and skipped, and the others are served.
func TestBadPostSkipped(t *testing.T) {
	dir := t.TempDir()
	writePost(t, dir, "good", "Good post", "2025-01-01T00:00:00Z", []string{"ok"}, "fine")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "not-json.json"), []byte("this is not JSON {"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "no-offset.json"),
		[]byte(`{"title":"x","date":"2025-01-01T00:00:00","tags":[],"body":"x"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "no-title.json"),
		[]byte(`{"date":"2025-01-01T00:00:00Z","tags":[],"body":"x"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("not a post"), 0o644))
	ts := startSite(t, options{posts: dir})
	resp, body := ts.get(t, "", "/")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, "Good post")
	resp, _ = ts.get(t, "", "/posts/not-json/")
	require.Equal(t, 404, resp.StatusCode)
	log := ts.logged()
	for _, name := range []string{"not-json.json", "no-offset.json", "no-title.json"} {
		require.Contains(t, log, "file="+name, "the skipped file is named")
	}
	require.NotContains(t, log, "good.json")
}

// TestReload checks that reloading picks up new posts and templates, and that a reload with
// broken templates keeps the previous ones.
func TestReload(t *testing.T) {
	posts, tmpl := t.TempDir(), t.TempDir()
	writePost(t, posts, "first", "First post", "2025-01-01T00:00:00Z", nil, "one")
	entries, err := embedded.ReadDir("templates")
	require.NoError(t, err)
	for _, e := range entries {
		b, err := embedded.ReadFile("templates/" + e.Name())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(tmpl, e.Name()), b, 0o644))
	}
	ts := startSite(t, options{posts: posts, templates: tmpl})
	_, body := ts.get(t, "", "/")
	require.Contains(t, body, "First post")

	writePost(t, posts, "second", "Second post", "2025-02-01T00:00:00Z", nil, "two")
	b, _ := os.ReadFile(filepath.Join(tmpl, "404.html"))
	require.NoError(t, os.WriteFile(filepath.Join(tmpl, "404.html"), []byte(strings.Replace(string(b), "Not found", "Nothing here", 1)), 0o644))
	require.NoError(t, ts.reload())
	_, body = ts.get(t, "", "/")
	require.Contains(t, body, "Second post")
	_, body = ts.get(t, "", "/no/such/page")
	require.Contains(t, body, "Nothing here", "the static 404 page is rendered again")

	require.NoError(t, os.WriteFile(filepath.Join(tmpl, "index.html"), []byte("{{define \"index.html\"}}{{.Broken"), 0o644))
	writePost(t, posts, "third", "Third post", "2025-03-01T00:00:00Z", nil, "three")
	require.Error(t, ts.reload())
	_, body = ts.get(t, "", "/")
	require.Contains(t, body, "Second post", "the previous state is still served")
	require.NotContains(t, body, "Third post")
}
