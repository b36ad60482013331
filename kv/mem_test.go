package kv

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMemSetGet(t *testing.T) {
	m := NewMem(nil)
	data := []byte("<h1>hello</h1>")
	mod := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, m.SetMeta("posts/hello.html", data, Meta{ModTime: mod}))

	got, err := m.Get("posts/hello.html")
	require.NoError(t, err)
	require.Equal(t, data, got)
	require.Same(t, &data[0], &got[0], "Get must not copy")

	info, err := m.Info("posts/hello.html")
	require.NoError(t, err)
	require.Equal(t, Info{Key: "posts/hello.html", Size: int64(len(data)), ModTime: mod,
		Digest: sha256.Sum256(data), ContentType: "text/html; charset=utf-8"}, info)
	require.True(t, m.Exists("posts/hello.html"))
	require.False(t, m.Exists("posts"), "a directory is not an entry")

	_, err = m.Get("posts/missing.html")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = m.Get("/posts/hello.html")
	require.ErrorIs(t, err, ErrInvalidKey)
	_, err = m.Info("a/../b")
	require.ErrorIs(t, err, ErrInvalidKey)
	require.NotErrorIs(t, ErrInvalidKey, ErrNotFound)

	require.NoError(t, m.Set("x.css", []byte("a{}")))
	info, err = m.Info("x.css")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), info.ModTime, 2*time.Second, "default ModTime is the time of the write")
}

func TestMemWriteErrors(t *testing.T) {
	m := NewMem(nil)
	require.NoError(t, m.Set("a/b", []byte("1")))

	err := m.Set("a", []byte("x"))
	require.ErrorIs(t, err, ErrConflict, "a is a directory")
	var oe *OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "set", oe.Op)
	require.Equal(t, "a", oe.Key)
	require.ErrorIs(t, m.Set("a/b/c", []byte("x")), ErrConflict, "a/b is an entry")
	require.ErrorIs(t, m.Set("/x", nil), ErrInvalidKey)
	require.ErrorIs(t, m.Set("x/../y", nil), ErrInvalidKey)
	require.ErrorIs(t, m.Remove("nope"), ErrNotFound)
	require.ErrorIs(t, m.Remove("a//b"), ErrInvalidKey)
	require.ErrorIs(t, m.Rename("nope", "x"), ErrNotFound)
	require.ErrorIs(t, m.Rename("a/b", "../x"), ErrInvalidKey)
	require.NoError(t, m.Set("x", []byte("2")))
	require.ErrorIs(t, m.Rename("x", "a/b/c"), ErrConflict, "a/b is an entry")
	require.ErrorIs(t, m.Rename("a/b", "x/y"), ErrConflict, "x is an entry")
	// The failed renames left both where they were.
	got, err := m.Get("a/b")
	require.NoError(t, err)
	require.Equal(t, "1", string(got))
	got, err = m.Get("x")
	require.NoError(t, err)
	require.Equal(t, "2", string(got))
	// Moving a/b below its own old name is fine: a/b is gone by then.
	require.NoError(t, m.Rename("a/b", "a/b/c"))
	require.True(t, m.Exists("a/b/c"))
}

func TestMemRemoveRename(t *testing.T) {
	m := NewMem(nil)
	require.NoError(t, m.Set("a/b/c.txt", []byte("c")))
	require.NoError(t, m.Set("a/d.txt", []byte("d")))
	gen := m.Generation()

	require.NoError(t, m.Rename("a/b/c.txt", "e.html"))
	require.Greater(t, m.Generation(), gen)
	require.False(t, m.Exists("a/b/c.txt"))
	e, err := m.Lookup("e.html")
	require.NoError(t, err)
	require.Equal(t, "c", string(e.Data))
	require.Equal(t, "text/html; charset=utf-8", e.ContentType, "content type follows the new name")
	l, err := m.List("a")
	require.NoError(t, err)
	require.Equal(t, []DirEntry{{Name: "d.txt"}}, l, "the emptied directory a/b is gone")
	_, err = m.List("a/b")
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, m.Remove("a/d.txt"))
	require.NoError(t, m.Set("a", []byte("now a file")), "a is no longer a directory")
	l, err = m.List("")
	require.NoError(t, err)
	require.Equal(t, []DirEntry{{Name: "a"}, {Name: "e.html"}}, l)

	// Rename onto an existing key replaces it.
	require.NoError(t, m.Rename("a", "e.html"))
	got, err := m.Get("e.html")
	require.NoError(t, err)
	require.Equal(t, "now a file", string(got))
	require.Equal(t, 1, m.Snapshot().Len())
}

func TestMemList(t *testing.T) {
	m := NewMem(nil)
	for _, k := range []string{"index.html", "b/x.html", "b/y/z.html", "b.html", "b-c/d", ".well-known/a"} {
		require.NoError(t, m.Set(k, []byte(k)))
	}
	l, err := m.List("")
	require.NoError(t, err)
	require.Equal(t, []DirEntry{{".well-known", true}, {"b", true}, {"b-c", true}, {"b.html", false},
		{"index.html", false}}, l)
	l, err = m.List("b")
	require.NoError(t, err)
	require.Equal(t, []DirEntry{{"x.html", false}, {"y", true}}, l)
	_, err = m.List("index.html")
	require.ErrorIs(t, err, ErrNotFound, "an entry is not a directory")
	_, err = m.List("/b")
	require.ErrorIs(t, err, ErrInvalidKey)
	require.Equal(t, []string{"b/x.html", "b/y/z.html"}, slicesCollect(m.Snapshot().Keys("b")))
}

func slicesCollect(seq func(func(string) bool)) []string {
	var out []string
	seq(func(s string) bool { out = append(out, s); return true })
	return out
}

func TestMemBatchAllOrNothing(t *testing.T) {
	m := NewMem(nil)
	require.NoError(t, m.Set("keep.txt", []byte("k")))
	gen := m.Generation()
	snap := m.Snapshot()

	var b Batch
	b.Set("new1.txt", []byte("1"))
	b.Set("new2.txt", []byte("2"))
	b.Remove("keep.txt")
	b.Remove("missing.txt") // fails
	err := m.Apply(&b)
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), "missing.txt")
	require.Equal(t, gen, m.Generation(), "a failed batch changes nothing")
	require.True(t, m.Exists("keep.txt"))
	require.False(t, m.Exists("new1.txt"))
	require.Same(t, snap, m.Snapshot())

	b.Reset()
	b.Set("new1.txt", []byte("1"))
	b.Set("tmp.txt", []byte("2"))
	b.Rename("tmp.txt", "new2.txt")
	b.Remove("keep.txt")
	require.Equal(t, 4, b.Len())
	require.NoError(t, m.Apply(&b))
	require.Greater(t, m.Generation(), gen)
	require.Equal(t, []string{"new1.txt", "new2.txt"}, slicesCollect(m.Snapshot().Keys("")))
	// The snapshot taken before is unchanged.
	require.Equal(t, []string{"keep.txt"}, slicesCollect(snap.Keys("")))
	require.Equal(t, gen, snap.Generation())
}

// TestMemBatchVisibleAtOnce checks that readers of snapshots never see part of a batch.
func TestMemBatchVisibleAtOnce(t *testing.T) {
	m := NewMem(nil)
	const n = 20
	write := func(v int) {
		var b Batch
		for i := range n {
			b.Set(fmt.Sprintf("k%02d", i), []byte(fmt.Sprint(v)))
		}
		require.NoError(t, m.Apply(&b))
	}
	write(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := 1; v <= 200; v++ {
			write(v)
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		s := m.Snapshot()
		first, err := s.Get("k00")
		require.NoError(t, err)
		for i := 1; i < n; i++ {
			got, err := s.Get(fmt.Sprintf("k%02d", i))
			require.NoError(t, err)
			require.Equal(t, string(first), string(got), "snapshot mixes two batches")
		}
	}
}

func TestMemVariants(t *testing.T) {
	m := NewMem(&MemConfig{Encodings: Encodings()})
	page := []byte(strings.Repeat("<p>compressible text</p>\n", 200))
	require.NoError(t, m.Set("page.html", page))
	require.NoError(t, m.Set("tiny.html", []byte("<p>")))
	require.NoError(t, m.Set("photo.png", page)) // not a compressible type: no variants

	e, err := m.Lookup("page.html")
	require.NoError(t, err)
	require.Len(t, e.Variants, 3)
	for i, enc := range []string{EncodingBrotli, EncodingZstd, EncodingGzip} {
		v := e.Variants[i]
		require.Equal(t, enc, v.Encoding)
		require.Less(t, v.Size, e.Size)
		require.Equal(t, int64(len(v.Data)), v.Size)
		require.Equal(t, Digest(sha256.Sum256(v.Data)), v.Digest)
		orig, err := decompress(enc, v.Data, e.Size)
		require.NoError(t, err)
		require.Equal(t, page, orig)
		got, ok := e.Variant(enc)
		require.True(t, ok)
		require.Equal(t, v.Digest, got.Digest)
	}
	_, ok := e.Variant("deflate")
	require.False(t, ok)

	e, err = m.Lookup("tiny.html")
	require.NoError(t, err)
	require.Empty(t, e.Variants, "a variant is kept only if smaller")
	e, err = m.Lookup("photo.png")
	require.NoError(t, err)
	require.Empty(t, e.Variants)
}

func TestWatch(t *testing.T) {
	m := NewMem(nil)
	all := m.Watch("")
	defer all.Close()
	posts := m.Watch("posts")
	defer posts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, m.Set("posts/a.html", nil))
	require.NoError(t, m.Set("index.html", nil))
	require.NoError(t, m.Rename("posts/a.html", "posts/b.html"))

	c, err := all.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, Change{Generation: m.Generation(), Keys: []string{"index.html", "posts/a.html", "posts/b.html"}}, c,
		"three writes coalesce into one change")
	c, err = posts.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"posts/a.html", "posts/b.html"}, c.Keys)

	// Nothing pending now: Next waits.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	_, err = posts.Next(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, m.Set("other.html", nil)) // outside posts: posts is not told
	_, err = posts.Next(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A watcher nobody reads stays bounded and degrades to All.
	var b Batch
	for i := range maxWatchKeys + 10 {
		b.Set(fmt.Sprintf("posts/%d.html", i), nil)
	}
	require.NoError(t, m.Apply(&b))
	c, err = posts.Next(ctx)
	require.NoError(t, err)
	require.True(t, c.All)
	require.Nil(t, c.Keys)

	// Close wakes a waiting Next and is idempotent.
	errc := make(chan error, 1)
	go func() { _, err := posts.Next(ctx); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, posts.Close())
	require.NoError(t, posts.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.NoError(t, m.Set("posts/after-close.html", nil), "writers never block on closed watchers")
}
