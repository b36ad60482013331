package kv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"testing/fstest"
	"time"

	"github.com/unikit/unikit/kv"
)

// The in-memory store: write, read without copying, stat, list.
func Example() {
	m := kv.NewMem(nil)
	_ = m.Set("index.html", []byte("<h1>Home</h1>"))
	_ = m.Set("posts/hello/index.html", []byte("<h1>Hello</h1>"))
	_ = m.Set("css/site.css", []byte("body{}"))

	body, _ := m.Get("index.html") // a read-only view: do not modify
	info, _ := m.Info("css/site.css")
	fmt.Println(string(body))
	fmt.Println(info.Size, info.ContentType, info.Digest.String()[:16])

	children, _ := m.List("")
	for _, c := range children {
		fmt.Println(c.Name, c.Dir)
	}
	_, err := m.Get("posts/missing.html")
	fmt.Println(errors.Is(err, kv.ErrNotFound))
	_, err = m.Get("posts/../../etc/passwd")
	fmt.Println(errors.Is(err, kv.ErrInvalidKey))
	// Output:
	// <h1>Home</h1>
	// 6 text/css; charset=utf-8 7c98040a54165758
	// css true
	// index.html false
	// posts true
	// true
	// true
}

// CleanKey turns a request path into a key, refusing traversal.
func ExampleCleanKey() {
	for _, p := range []string{"/about/", "//posts/./2024//", "/", "/../etc/passwd", "/a\\..\\b"} {
		k, err := kv.CleanKey(p)
		fmt.Printf("%q %q %v\n", p, k, err)
	}
	// Output:
	// "/about/" "about" <nil>
	// "//posts/./2024//" "posts/2024" <nil>
	// "/" "" <nil>
	// "/../etc/passwd" "" kv: invalid key
	// "/a\\..\\b" "" kv: invalid key
}

// A batch becomes visible all at once; a failing batch changes nothing.
func ExampleMem_Apply() {
	m := kv.NewMem(nil)
	var b kv.Batch
	b.Set("draft.html", []byte("<p>draft</p>"))
	b.Rename("draft.html", "posts/published.html")
	b.Set("index.html", []byte(`<a href="/posts/published.html">new post</a>`))
	fmt.Println(m.Apply(&b))

	b.Reset()
	b.Remove("index.html")
	b.Remove("no-such-page.html")
	fmt.Println(m.Apply(&b))
	fmt.Println(m.Exists("index.html"), m.Exists("posts/published.html"))
	// Output:
	// <nil>
	// kv: remove "no-such-page.html": kv: not found
	// true true
}

// A Watcher is told of changes, coalesced.
func ExampleMem_Watch() {
	m := kv.NewMem(nil)
	w := m.Watch("posts")
	defer w.Close()
	_ = m.Set("posts/a.html", nil)
	_ = m.Set("index.html", nil) // not under posts
	_ = m.Set("posts/b.html", nil)
	c, _ := w.Next(context.Background())
	fmt.Println(c.Keys, c.Generation == m.Generation())
	// Output: [posts/a.html posts/b.html] true
}

// Load a site from any fs.FS (here a MapFS; a go:embed embed.FS or os.DirFS work the same,
// and LoadDir reads a directory safely), with precompressed variants.
func ExampleLoadFS() {
	page := bytes.Repeat([]byte("<p>Lorem ipsum dolor sit amet.</p>\n"), 50)
	site := fstest.MapFS{
		"index.html":    {Data: page, ModTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		"img/logo.png":  {Data: []byte("\x89PNG...")},
		".well-known/x": {Data: []byte("x")},
	}
	s, err := kv.LoadFS(site, &kv.LoadOptions{Encodings: []string{kv.EncodingGzip}})
	if err != nil {
		panic(err)
	}
	e, _ := s.Lookup("index.html")
	gz, _ := e.Variant(kv.EncodingGzip)
	fmt.Println(e.Size, e.ContentType, e.ModTime.Year(), gz.Size < e.Size)
	for k := range s.Keys("") {
		fmt.Println(k)
	}
	// Output:
	// 1750 text/html; charset=utf-8 2024 true
	// .well-known/x
	// img/logo.png
	// index.html
}

// Build a content image and load it back: what `go generate` with the kvimage command
// produces, and what a server embeds with go:embed.
func ExampleLoadImage() {
	m := kv.NewMem(&kv.MemConfig{Encodings: kv.Encodings()})
	_ = m.Set("index.html", bytes.Repeat([]byte("<p>hello</p>"), 100))
	var img bytes.Buffer
	if err := kv.WriteImage(&img, m); err != nil {
		panic(err)
	}
	s, err := kv.LoadImage(img.Bytes()) // entries are sub-slices of img: no copy
	if err != nil {
		panic(err)
	}
	e, _ := s.Lookup("index.html")
	for _, v := range e.Variants {
		fmt.Println(v.Encoding)
	}

	truncated := img.Bytes()[:img.Len()-1]
	_, err = kv.LoadImage(truncated)
	fmt.Println(errors.Is(err, kv.ErrCorruptImage))
	// Output:
	// br
	// zstd
	// gzip
	// true
}

// Swap replaces a running server's content atomically; a request reads one snapshot.
func ExampleSwap() {
	v1 := kv.NewMem(nil)
	_ = v1.Set("index.html", []byte("version 1"))
	content := kv.NewSwap(v1)

	snap := content.Snapshot() // taken at the start of a request
	v2 := kv.NewMem(nil)
	_ = v2.Set("index.html", []byte("version 2"))
	content.Replace(v2) // a new deployment

	old, _ := snap.Get("index.html")
	cur, _ := content.Get("index.html")
	fmt.Println(string(old), "/", string(cur), content.Generation() > snap.Generation())
	// Output: version 1 / version 2 true
}

// Every store is an fs.FS: html/template, http.FS and io/fs work on it.
func ExampleStore_fs() {
	m := kv.NewMem(nil)
	_ = m.Set("templates/page.html", []byte(`{{define "page"}}<title>{{.}}</title>{{end}}`))
	t := template.Must(template.ParseFS(m, "templates/*.html"))
	_ = t.ExecuteTemplate(os.Stdout, "page", "Hi & bye")
	fmt.Println()
	_ = fs.WalkDir(m, ".", func(p string, d fs.DirEntry, err error) error {
		fmt.Println(p, d.IsDir())
		return err
	})
	// Output:
	// <title>Hi &amp; bye</title>
	// . true
	// templates true
	// templates/page.html false
}
