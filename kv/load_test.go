package kv

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/stretchr/testify/require"
)

const secret = "SECRET: outside the site"

// makeSite writes a site directory next to an "outside" directory holding a secret, with
// every kind of symbolic link that could lead out of the site, sidecars and odd files.
func makeSite(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	site, outside := filepath.Join(top, "site"), filepath.Join(top, "outside")
	write := func(dir, name, content string) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	write(outside, "secret.txt", secret)
	write(outside, "dir/secret.html", secret)
	write(site, "index.html", "<h1>home</h1>")
	write(site, "about/index.html", "<h1>about</h1>")
	write(site, ".well-known/security.txt", "Contact: mailto:a@example.org")
	write(site, ".hidden", "dotfile")
	js := strings.Repeat("console.log('hello');\n", 100)
	write(site, "app.js", js)
	write(site, "app.js.gz", string(gz(t, []byte(js))))
	css := strings.Repeat("body { color: red; }\n", 100)
	write(site, "style.css", css)
	write(site, "style.css.br", string(br(t, []byte(css))))
	write(site, "bad.txt", strings.Repeat("bad ", 100))
	write(site, "bad.txt.gz", string(gz(t, []byte("something else entirely"))))
	write(site, "back\\slash.txt", "invalid key")
	for name, target := range map[string]string{
		"abs-link.txt":     filepath.Join(outside, "secret.txt"),
		"rel-link.txt":     "../outside/secret.txt",
		"dir-link":         filepath.Join(outside, "dir"),
		"rel-dir-link":     "../outside/dir",
		"about/up-link":    "../../outside/secret.txt",
		"inside-link.html": "index.html",
	} {
		require.NoError(t, os.Symlink(target, filepath.Join(site, name)))
	}
	mkfifo(t, filepath.Join(site, "fifo"))
	mod := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(site, "index.html"), mod, mod))
	return site
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func br(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := brotli.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

var wantSiteKeys = []string{".hidden", ".well-known/security.txt", "about/index.html", "app.js", "app.js.gz",
	"bad.txt", "bad.txt.gz", "index.html", "style.css", "style.css.br"}

func checkSite(t *testing.T, s *Snapshot) {
	t.Helper()
	require.Equal(t, wantSiteKeys, slicesCollect(s.Keys("")))
	for e := range s.All() {
		require.NotContains(t, string(e.Data), "SECRET", e.Key)
	}
	info, err := s.Info("index.html")
	require.NoError(t, err)
	require.True(t, info.ModTime.Equal(time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)), info.ModTime)

	// Sidecars are variants of their original (and still keys of their own).
	e, err := s.Lookup("app.js")
	require.NoError(t, err)
	gzSide, err := s.Get("app.js.gz")
	require.NoError(t, err)
	v, ok := e.Variant(EncodingGzip)
	require.True(t, ok)
	require.Equal(t, gzSide, v.Data)
	e, err = s.Lookup("style.css")
	require.NoError(t, err)
	_, ok = e.Variant(EncodingBrotli)
	require.True(t, ok)
	// A sidecar that does not decode to its original is not a variant (one computed from the
	// original may be).
	e, err = s.Lookup("bad.txt")
	require.NoError(t, err)
	badSide, err := s.Get("bad.txt.gz")
	require.NoError(t, err)
	if v, ok := e.Variant(EncodingGzip); ok {
		require.NotEqual(t, badSide, v.Data)
		orig, err := decompress(EncodingGzip, v.Data, e.Size)
		require.NoError(t, err)
		require.Equal(t, e.Data, orig)
	}
}

func TestLoadDir(t *testing.T) {
	site := makeSite(t)
	var logs bytes.Buffer
	s, err := LoadDir(site, &LoadOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	checkSite(t, s)
	require.Contains(t, logs.String(), "symbolic link")
	require.Contains(t, logs.String(), "special file")
	require.Contains(t, logs.String(), "not a valid key")
	require.Contains(t, logs.String(), "sidecar")

	_, err = LoadDir(filepath.Join(site, "nonexistent"), nil)
	require.Error(t, err)
}

// TestLoadFSDirFS loads through os.DirFS, which follows symbolic links: LoadFS must skip them.
func TestLoadFSDirFS(t *testing.T) {
	s, err := LoadFS(os.DirFS(makeSite(t)), nil)
	require.NoError(t, err)
	checkSite(t, s)
}

func TestLoadFSEncodings(t *testing.T) {
	page := strings.Repeat("<p>text</p>", 100)
	s, err := LoadFS(fstest.MapFS{
		"a.html":    {Data: []byte(page)},
		"a.html.gz": {Data: gz(t, []byte(page))},
		"b.png":     {Data: []byte(page)},
	}, &LoadOptions{Encodings: []string{EncodingGzip, EncodingBrotli}})
	require.NoError(t, err)
	e, err := s.Lookup("a.html")
	require.NoError(t, err)
	require.Len(t, e.Variants, 2)
	side, err := s.Get("a.html.gz")
	require.NoError(t, err)
	v, _ := e.Variant(EncodingGzip)
	require.Equal(t, side, v.Data, "the sidecar wins over computing a variant")
	e, err = s.Lookup("b.png")
	require.NoError(t, err)
	require.Empty(t, e.Variants)
}

func TestLoadFSConflict(t *testing.T) {
	_, err := newSnapshot(map[string]*Entry{"a": {Info: Info{Key: "a"}}, "a/b": {Info: Info{Key: "a/b"}}}, 1)
	require.ErrorIs(t, err, ErrConflict)
}

func TestLoadFSEmbedLike(t *testing.T) {
	// A MapFS with mode bits like embed.FS: read-only regular files.
	fsys := fstest.MapFS{
		"site/index.html":     {Data: []byte("<h1>x</h1>"), Mode: 0o444},
		"site/css/style.css":  {Data: []byte("a{}"), Mode: 0o444},
		"site/img/logo.svg":   {Data: []byte("<svg/>"), Mode: 0o444},
		"site/feed/atom.xml":  {Data: []byte("<feed/>"), Mode: 0o444},
		"site/.nojekyll":      {Data: nil, Mode: 0o444},
		"site/sub/dir/a.json": {Data: []byte("{}"), Mode: 0o444},
	}
	sub, err := fs.Sub(fsys, "site")
	require.NoError(t, err)
	s, err := LoadFS(sub, nil)
	require.NoError(t, err)
	require.Equal(t, 6, s.Len())
	info, err := s.Info(".nojekyll")
	require.NoError(t, err)
	require.Zero(t, info.Size)
}
