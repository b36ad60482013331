package httpserve

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolveDefaults(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	addr := startServer(t, srv)
	cases := []struct {
		target   string
		status   int
		body     string // exact body, when not ""
		location string
	}{
		{"/", 200, "<h1>home</h1>", ""},
		{"/index.html", 200, "<h1>home</h1>", ""},
		{"/about", 200, "<h1>about</h1>", ""},
		{"/about.html", 200, "<h1>about</h1>", ""},
		{"/about/", 301, "", "/blog"}, // "/about /blog 301" applies where nothing is served
		{"/both.html", 200, "<h1>both file</h1>", ""},
		{"/blog", 301, "", "/blog/"},
		{"/blog?page=2", 301, "", "/blog/?page=2"},
		{"/blog/", 200, "<h1>blog</h1>", ""},
		{"/blog/first", 301, "", "/blog/first/"},
		{"/blog/first/", 200, "<h1>first post</h1>", ""},
		{"/blog/first/index.html", 200, "<h1>first post</h1>", ""},
		{"/blog/nope", 404, "<h1>blog not found</h1>", ""},
		{"/both", 200, "<h1>both file</h1>", ""},
		{"/both/", 200, "<h1>both dir</h1>", ""},
		{"/missing", 404, "<h1>not found</h1>", ""},
		{"/assets/", 404, "<h1>not found</h1>", ""}, // no listings
		{"/.env", 404, "<h1>not found</h1>", ""},
		{"/.git/config", 404, "<h1>not found</h1>", ""},
		{"/_headers", 404, "<h1>not found</h1>", ""},
		{"/_redirects", 404, "<h1>not found</h1>", ""},
		{"/a/../about", 200, "<h1>about</h1>", ""},
		// Traversal in every encoding: refused or kept inside the site.
		{"/../etc/passwd", 400, "", ""},
		{"/%2e%2e/etc/passwd", 400, "", ""},
		{"/%2E%2e%2fetc", 400, "", ""},
		{"/.%2e/x", 400, "", ""},
		{"/%252e%252e/x", 404, "", ""}, // double encoding stays literal: a file named "%2e%2e"
		{"/..%5c..%5cetc", 400, "", ""},
		{"/a%5c..%5cb", 400, "", ""},
		{"/secret%00.html", 400, "", ""},
		{"/%C0%AE%C0%AE/x", 400, "", ""}, // overlong '.'
		{"/%c0%af", 400, "", ""},         // overlong '/'
		{"/a%2Fb", 400, "", ""},
		// Off-site redirects are impossible.
		{"//evil.com", 301, "", "/evil.com/"},
		{"//evil.com/", 200, "<h1>a directory named evil.com</h1>", ""},
		{"///evil.com", 301, "", "/evil.com/"},
		{"/%2fevil.com", 400, "", ""},
		{"/%5cevil.com", 400, "", ""},
		{"//evil.com/%2e%2e/blog", 301, "", "/blog/"},
		// _redirects
		{"/old", 301, "", "/about"},
		{"/go/first/", 302, "", "/blog/first/"},
		{"/rewrite", 200, "<h1>about</h1>", ""},
		{"/gone", 410, "<h1>not found</h1>", ""},
		{"/forced", 302, "", "/blog/"},
		{"/news/2024/hello", 301, "", "/blog/hello?y=2024"},
		{"/x/evil.com", 301, "", "/evil.com"},
		{"/x//evil.com", 301, "", "/evil.com"},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			r := both(t, srv, addr, "GET", tc.target)
			require.Equal(t, tc.status, r.status, "body %q", r.body)
			if tc.body != "" {
				require.Equal(t, tc.body, r.body)
			}
			require.Equal(t, tc.location, r.header.Get("Location"))
		})
	}
}

func TestResolveOptions(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t), RedirectStatus: http.StatusPermanentRedirect, Resolve: Resolution{
		RedirectHTML: true, RedirectIndex: true, StripTrailingSlash: true, NoRules: true,
	}})
	addr := startServer(t, srv)
	cases := []struct {
		target   string
		status   int
		location string
	}{
		{"/about.html", 308, "/about"},
		{"/about.html?x=1", 308, "/about?x=1"},
		{"/index.html", 308, "/"},
		{"/blog/index.html", 308, "/blog/"},
		{"/about/", 308, "/about"},
		{"/about", 200, ""},
		{"/blog", 308, "/blog/"},
		{"/old", 404, ""}, // NoRules
		{"/_redirects", 404, ""},
	}
	for _, tc := range cases {
		r := both(t, srv, addr, "GET", tc.target)
		require.Equal(t, tc.status, r.status, tc.target)
		require.Equal(t, tc.location, r.header.Get("Location"), tc.target)
	}
}
