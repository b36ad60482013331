package kv

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
)

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"index.html":               "text/html; charset=utf-8",
		"A/B/INDEX.HTM":            "text/html; charset=utf-8",
		"style.css":                "text/css; charset=utf-8",
		"app.js":                   "text/javascript; charset=utf-8",
		"mod.mjs":                  "text/javascript; charset=utf-8",
		"data.json":                "application/json; charset=utf-8",
		"app.js.map":               "application/json; charset=utf-8",
		"feed.xml":                 "application/xml; charset=utf-8",
		"atom.atom":                "application/atom+xml; charset=utf-8",
		"feed.rss":                 "application/rss+xml; charset=utf-8",
		"logo.svg":                 "image/svg+xml; charset=utf-8",
		"robots.txt":               "text/plain; charset=utf-8",
		"README.md":                "text/markdown; charset=utf-8",
		"site.webmanifest":         "application/manifest+json; charset=utf-8",
		"a.png":                    "image/png",
		"a.jpg":                    "image/jpeg",
		"a.JPEG":                   "image/jpeg",
		"a.gif":                    "image/gif",
		"a.webp":                   "image/webp",
		"a.avif":                   "image/avif",
		"favicon.ico":              "image/vnd.microsoft.icon",
		"f.woff":                   "font/woff",
		"f.woff2":                  "font/woff2",
		"f.ttf":                    "font/ttf",
		"f.otf":                    "font/otf",
		"doc.pdf":                  "application/pdf",
		"m.wasm":                   "application/wasm",
		"v.mp4":                    "video/mp4",
		"v.webm":                   "video/webm",
		"a.mp3":                    "audio/mpeg",
		"a.ogg":                    "audio/ogg",
		"x.zip":                    "application/zip",
		"x.tar.gz":                 "application/gzip",
		"CNAME":                    DefaultContentType,
		"x.unknownext":             DefaultContentType,
		".well-known/security.txt": "text/plain; charset=utf-8",
	} {
		require.Equal(t, want, ContentType(name), name)
	}
	r := allocs.Measure(100, 0, func() { _ = ContentType("a/b/Index.HTML") })
	require.Zero(t, r.Mallocs, "%v", r)
}

func TestCompressible(t *testing.T) {
	for _, n := range []string{"a.html", "a.css", "a.js", "a.json", "a.svg", "a.xml", "a.txt", "a.wasm", "a.ttf", "a.ico"} {
		require.True(t, Compressible(ContentType(n)), n)
	}
	for _, n := range []string{"a.png", "a.jpg", "a.woff2", "a.gz", "a.mp4", "a.zip", "CNAME"} {
		require.False(t, Compressible(ContentType(n)), n)
	}
}
