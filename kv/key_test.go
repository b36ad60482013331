package kv

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
)

func TestValidKey(t *testing.T) {
	for _, k := range []string{"a", "index.html", "a/b/c.css", ".well-known/x", "a b", "ü/€.txt",
		"%2e%2e", "..a", "a..", "a/...", strings.Repeat("x", MaxSegmentLen)} {
		require.True(t, ValidKey(k), "%q", k)
	}
	for _, k := range []string{"", "/", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a", "a/..",
		"a\\b", "..\\a", "a\x00b", "a\nb", "a\x7fb", "\xc0\xae\xc0\xae", "a/\xff",
		strings.Repeat("x", MaxSegmentLen+1), strings.Repeat("a/", MaxKeyLen/2) + "a"} {
		require.False(t, ValidKey(k), "%q", k)
	}
}

func TestCleanKey(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"/":               "",
		"/./":             "",
		"//":              "",
		"a":               "a",
		"/a":              "a",
		"/about/":         "about",
		"//a///b//":       "a/b",
		"/./a/./b/.":      "a/b",
		"/.well-known/x":  ".well-known/x",
		"/%2e%2e/passwd":  "%2e%2e/passwd",
		"/posts/..hidden": "posts/..hidden",
	} {
		got, err := CleanKey(in)
		require.NoError(t, err, "%q", in)
		require.Equal(t, want, got, "%q", in)
	}
	for _, in := range []string{"..", "/..", "/../etc/passwd", "/a/../b", "/a/..", "a/b/../../..",
		"/..\\evil", "/a\\b", "/\\evil.com", "/a\x00", "/\r\n", "/\xc0\xae\xc0\xae/x", "/\xff",
		"/" + strings.Repeat("x", MaxSegmentLen+1), strings.Repeat("/ab", MaxKeyLen)} {
		_, err := CleanKey(in)
		require.ErrorIs(t, err, ErrInvalidKey, "%q", in)
	}
}

func TestCleanKeyNoAlloc(t *testing.T) {
	for _, in := range []string{"a/b.html", "/a/b.html"} {
		r := allocs.Measure(100, 0, func() { _, _ = CleanKey(in) })
		require.Zero(t, r.Mallocs, "%s: %v", in, r)
	}
}

// FuzzCleanKey checks that CleanKey never panics, yields "" or a valid key with no ".."
// segment, is idempotent, and agrees with ValidKey.
func FuzzCleanKey(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b", "//a/./b/", "/../x", "/a/..", "%2e%2e/", "a\\b", "\x00",
		"\xc0\xae", "/.well-known/", "a/b/c/d/e/f/g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		k, err := CleanKey(in)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidKey)
			require.Empty(t, k)
			return
		}
		if k != "" {
			require.True(t, ValidKey(k), "CleanKey(%q) = %q, not valid", in, k)
		}
		for seg := range strings.SplitSeq(k, "/") {
			require.NotEqual(t, "..", seg)
		}
		k2, err := CleanKey(k)
		require.NoError(t, err)
		require.Equal(t, k, k2, "not idempotent")
		if ValidKey(in) {
			require.Equal(t, in, k)
		}
	})
}
