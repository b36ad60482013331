package kv

import (
	"bytes"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// stores returns one of each kind of store, all with the same content.
func stores(t *testing.T) map[string]Store {
	t.Helper()
	m := NewMem(&MemConfig{Encodings: []string{EncodingGzip}})
	var b Batch
	b.Set("index.html", []byte(`{{define "index"}}<h1>{{.}}</h1>{{end}}`))
	b.Set("about/index.html", []byte("<h1>about</h1>"))
	b.Set("posts/2024/hello.html", bytes.Repeat([]byte("hello "), 200))
	b.Set("css/site.3f2a.css", []byte("body{}"))
	b.Set(".well-known/security.txt", []byte("Contact: x"))
	require.NoError(t, m.Apply(&b))

	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, m))
	loaded, err := LoadDir(dir, nil)
	require.NoError(t, err)

	var img bytes.Buffer
	require.NoError(t, WriteImage(&img, m))
	image, err := LoadImage(img.Bytes())
	require.NoError(t, err)

	return map[string]Store{"mem": m, "snapshot": m.Snapshot(), "dir": loaded, "image": image, "swap": NewSwap(m)}
}

func TestFS(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, fstest.TestFS(s, "index.html", "about/index.html", "posts/2024/hello.html",
				"css/site.3f2a.css", ".well-known/security.txt"))

			_, err := s.Open("/index.html")
			require.ErrorIs(t, err, fs.ErrInvalid)
			_, err = s.Open("../index.html")
			require.ErrorIs(t, err, fs.ErrInvalid)
			_, err = s.Open("missing")
			require.ErrorIs(t, err, fs.ErrNotExist)
			_, err = s.ReadDir("index.html")
			require.Error(t, err)

			// ReadFile copies: modifying its result leaves the store intact.
			b, err := s.ReadFile("about/index.html")
			require.NoError(t, err)
			b[0] = 'X'
			got, err := s.Get("about/index.html")
			require.NoError(t, err)
			require.Equal(t, "<h1>about</h1>", string(got))

			fi, err := s.Stat("posts")
			require.NoError(t, err)
			require.True(t, fi.IsDir())
			fi, err = s.Stat("about/index.html")
			require.NoError(t, err)
			require.Equal(t, "index.html", fi.Name())
			require.IsType(t, &Entry{}, fi.Sys())
		})
	}
}

func TestFSTemplateAndHTTP(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			tmpl, err := template.ParseFS(s, "index.html")
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, tmpl.ExecuteTemplate(&out, "index", "hi <there>"))
			require.Equal(t, "<h1>hi &lt;there&gt;</h1>", out.String())

			h := http.FileServer(http.FS(s))
			req := httptest.NewRequest("GET", "/posts/2024/hello.html", nil)
			req.Header.Set("Range", "bytes=6-11")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusPartialContent, rec.Code)
			require.Equal(t, "hello ", rec.Body.String())

			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/about/", nil))
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, "<h1>about</h1>", rec.Body.String())
		})
	}
}

func TestFileSeekReadAt(t *testing.T) {
	s := stores(t)["snapshot"]
	f, err := s.Open("about/index.html")
	require.NoError(t, err)
	rs := f.(io.ReadSeeker)
	n, err := rs.Seek(-5, io.SeekEnd)
	require.NoError(t, err)
	require.EqualValues(t, 9, n)
	rest, err := io.ReadAll(rs)
	require.NoError(t, err)
	require.Equal(t, "</h1>", string(rest))
	_, err = rs.Seek(-100, io.SeekCurrent)
	require.Error(t, err)
	buf := make([]byte, 4)
	n2, err := f.(io.ReaderAt).ReadAt(buf, 10)
	require.NoError(t, err)
	require.Equal(t, 4, n2)
	require.Equal(t, "/h1>", string(buf))
	n2, err = f.(io.ReaderAt).ReadAt(buf, 12)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, 2, n2)
	require.NoError(t, f.Close())
	_, err = f.Read(buf)
	require.ErrorIs(t, err, fs.ErrClosed)
}
