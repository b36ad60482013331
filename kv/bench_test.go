package kv

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
)

// benchSite returns a Mem with n pages of 4 KiB.
func benchSite(tb testing.TB, n int) *Mem {
	m := NewMem(nil)
	var b Batch
	page := bytes.Repeat([]byte("<p>four KiB page</p>\n"), 4096/21)
	for i := range n {
		b.Set(fmt.Sprintf("posts/%04d/index.html", i), page)
	}
	require.NoError(tb, m.Apply(&b))
	return m
}

// TestReadsDoNotAllocate checks the per-request reads of every store, hits and misses.
func TestReadsDoNotAllocate(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	m := benchSite(t, 100)
	swap := NewSwap(m)
	const key = "posts/0042/index.html"
	for name, s := range map[string]Store{"mem": m, "snapshot": m.Snapshot(), "swap": swap} {
		for what, f := range map[string]func(){
			"Get":      func() { _, _ = s.Get(key) },
			"Info":     func() { _, _ = s.Info(key) },
			"Lookup":   func() { _, _ = s.Lookup(key) },
			"Exists":   func() { _ = s.Exists(key) },
			"List":     func() { _, _ = s.List("posts") },
			"Snapshot": func() { _ = s.Snapshot().Generation() },
			"miss":     func() { _, _ = s.Get("posts/0042/missing.html") },
			"invalid":  func() { _, _ = s.Info("posts/../etc/passwd") },
			"clean":    func() { _, _ = CleanKey("/posts/0042/") },
		} {
			r := allocs.Measure(100, 0, f)
			require.Zero(t, r.Mallocs, "%s %s: %v", name, what, r)
		}
	}
	snap := m.Snapshot()
	buf := make([]byte, 0, 64)
	r := allocs.Measure(100, 0, func() {
		_, _ = snap.LookupBytes(append(append(buf[:0], "posts/0042"...), "/index.html"...))
		_, _ = snap.LookupBytes(append(append(buf[:0], "posts/0042"...), ".html"...))
	})
	require.Zero(t, r.Mallocs, "LookupBytes: %v", r)
}

func BenchmarkGet(b *testing.B) {
	m := benchSite(b, 1000)
	for name, s := range map[string]Store{"Snapshot": m.Snapshot(), "Mem": m, "Swap": NewSwap(m)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Get("posts/0500/index.html"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInfo(b *testing.B) {
	m := benchSite(b, 1000)
	for name, s := range map[string]Store{"Snapshot": m.Snapshot(), "Mem": m, "Swap": NewSwap(m)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Info("posts/0500/index.html"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResolve is the lookup sequence of a clean-URL request for /posts/0500/: clean the
// path, miss "posts/0500" and "posts/0500.html", find "posts/0500/index.html".
func BenchmarkResolve(b *testing.B) {
	swap := NewSwap(benchSite(b, 1000))
	buf := make([]byte, 0, MaxKeyLen+16)
	b.ReportAllocs()
	for b.Loop() {
		snap := swap.Snapshot()
		k, err := CleanKey("/posts/0500/")
		if err != nil {
			b.Fatal(err)
		}
		if snap.Exists(k) {
			b.Fatal("unexpected")
		}
		if _, err := snap.LookupBytes(append(append(buf[:0], k...), ".html"...)); err != ErrNotFound {
			b.Fatal(err)
		}
		if _, err := snap.LookupBytes(append(append(buf[:0], k...), "/index.html"...)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCleanKey(b *testing.B) {
	for _, in := range []string{"/posts/2024/05/hello-world/index.html", "//posts/./2024//05/hello-world/"} {
		b.Run(fmt.Sprintf("%q", in), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CleanKey(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadImage loads (and fully verifies) an image of 1,000 pages of 4 KiB with
// gzip variants: the start-up cost of a server that embeds its site.
func BenchmarkLoadImage(b *testing.B) {
	m := NewMemFrom(benchSite(b, 1000), nil)
	s, err := LoadFS(m, &LoadOptions{Encodings: []string{EncodingGzip}})
	require.NoError(b, err)
	var img bytes.Buffer
	require.NoError(b, WriteImage(&img, s))
	b.SetBytes(int64(img.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadImage(img.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemSet is one write to a 1,000-entry Mem followed by a Snapshot, the cost a
// change pays once before readers get the new snapshot without allocating.
func BenchmarkMemSet(b *testing.B) {
	m := benchSite(b, 1000)
	page := []byte("<p>updated</p>")
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Set("posts/0001/index.html", page); err != nil {
			b.Fatal(err)
		}
		_ = m.Snapshot()
	}
}
