package kv

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// testImage returns an image of a small site with variants and a duplicated file.
func testImage(t testing.TB) (*Mem, []byte) {
	m := NewMem(&MemConfig{Encodings: Encodings()})
	var b Batch
	page := []byte(strings.Repeat("<p>hello image</p>\n", 50))
	b.SetMeta("index.html", page, Meta{ModTime: time.Date(2024, 2, 3, 4, 5, 6, 7, time.UTC)})
	b.Set("copy/index.html", page)
	b.Set("img/x.png", []byte{0x89, 'P', 'N', 'G', 1, 2, 3})
	b.SetMeta("feed.xml", []byte("<feed/>"), Meta{ContentType: "application/atom+xml; charset=utf-8"})
	b.SetMeta("empty.txt", nil, Meta{ModTime: time.Unix(1, 0)})
	require.NoError(t, m.Apply(&b))
	var img bytes.Buffer
	require.NoError(t, WriteImage(&img, m))
	return m, img.Bytes()
}

func TestImageRoundTrip(t *testing.T) {
	m, img := testImage(t)
	s, err := LoadImage(img)
	require.NoError(t, err)
	want := m.Snapshot()
	require.Equal(t, want.Len(), s.Len())
	require.NotEqual(t, want.Generation(), s.Generation())
	for e := range want.All() {
		got, err := s.Lookup(e.Key)
		require.NoError(t, err)
		require.True(t, e.ModTime.Equal(got.ModTime), e.Key)
		ei, gi := e.Info, got.Info
		ei.ModTime, gi.ModTime = time.Time{}, time.Time{}
		require.Equal(t, ei, gi)
		require.Equal(t, string(e.Data), string(got.Data))
		require.Equal(t, len(e.Variants), len(got.Variants), e.Key)
		for i := range e.Variants {
			require.Equal(t, e.Variants[i].Encoding, got.Variants[i].Encoding)
			require.Equal(t, e.Variants[i].Digest, got.Variants[i].Digest)
			require.Equal(t, e.Variants[i].Data, got.Variants[i].Data)
		}
	}
	require.Len(t, mustLookup(t, s, "index.html").Variants, 3)

	// Zero copy: content and variants point into the image.
	inImage := func(b []byte) bool {
		if len(b) == 0 {
			return true
		}
		p, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&img[0]))
		return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(img))
	}
	for e := range s.All() {
		require.True(t, inImage(e.Data), e.Key)
		require.Equal(t, len(e.Data), cap(e.Data), "capacity clipped so append cannot overwrite the image")
		for _, v := range e.Variants {
			require.True(t, inImage(v.Data), e.Key)
		}
	}
	// Identical content is stored once.
	require.Same(t, &mustLookup(t, s, "index.html").Data[0], &mustLookup(t, s, "copy/index.html").Data[0])

	// An image of an image is the same bytes.
	var again bytes.Buffer
	require.NoError(t, WriteImage(&again, s))
	require.Equal(t, img, again.Bytes())

	// An empty store makes a valid image too.
	var empty bytes.Buffer
	require.NoError(t, WriteImage(&empty, Empty()))
	s, err = LoadImage(empty.Bytes())
	require.NoError(t, err)
	require.Zero(t, s.Len())
}

func mustLookup(t *testing.T, s Store, key string) *Entry {
	t.Helper()
	e, err := s.Lookup(key)
	require.NoError(t, err)
	return e
}

// TestImageTruncated refuses every truncation of a valid image.
func TestImageTruncated(t *testing.T) {
	_, img := testImage(t)
	for n := range len(img) {
		s, err := LoadImage(img[:n])
		require.ErrorIs(t, err, ErrCorruptImage, "truncated to %d bytes", n)
		require.Nil(t, s)
	}
	_, err := LoadImage(img[:100])
	require.ErrorContains(t, err, "truncated")
	_, err = LoadImage(append(bytes.Clone(img), 0))
	require.ErrorContains(t, err, "trailing garbage")
}

// TestImageCorrupt refuses an image with any one byte changed.
func TestImageCorrupt(t *testing.T) {
	_, img := testImage(t)
	for i := range img {
		bad := bytes.Clone(img)
		bad[i] ^= 0x40
		s, err := LoadImage(bad)
		require.ErrorIs(t, err, ErrCorruptImage, "byte %d changed", i)
		require.Nil(t, s)
	}
	bad := bytes.Clone(img)
	bad[0] = 'X'
	_, err := LoadImage(bad)
	require.ErrorContains(t, err, "bad magic")
	bad = bytes.Clone(img)
	binary.LittleEndian.PutUint32(bad[8:], 2)
	_, err = LoadImage(bad)
	require.ErrorContains(t, err, "version 2")
	bad = bytes.Clone(img)
	bad[len(bad)-200] ^= 1 // inside the data
	_, err = LoadImage(bad)
	require.ErrorContains(t, err, "checksum")
}

// TestImageCorruptWithValidChecksum changes content behind a recomputed whole-image
// checksum (as an attacker could): the per-entry digests still refuse it.
func TestImageCorruptWithValidChecksum(t *testing.T) {
	_, img := testImage(t)
	bad := bytes.Clone(img)
	bad[len(bad)-sha256.Size-3] ^= 1 // the last data bytes
	fixChecksum(bad)
	_, err := LoadImage(bad)
	require.ErrorIs(t, err, ErrCorruptImage)
	require.ErrorContains(t, err, "checksum mismatch")
}

// TestImageHostileIndex checks index entries that are internally inconsistent.
func TestImageHostileIndex(t *testing.T) {
	build := func(key, ctype string, off, size uint64, count uint32) []byte {
		var idx []byte
		le := binary.LittleEndian
		idx = le.AppendUint16(idx, uint16(len(key)))
		idx = append(idx, key...)
		idx = append(idx, byte(len(ctype)))
		idx = append(idx, ctype...)
		idx = le.AppendUint64(idx, 0)
		idx = le.AppendUint32(idx, 0)
		idx = le.AppendUint64(idx, off)
		idx = le.AppendUint64(idx, size)
		d := sha256.Sum256([]byte("data"))
		idx = append(idx, d[:]...)
		idx = append(idx, 0)
		img := []byte(imageMagic)
		img = le.AppendUint32(img, imageVersion)
		img = le.AppendUint32(img, 0)
		img = le.AppendUint32(img, count)
		img = le.AppendUint32(img, 0)
		img = le.AppendUint64(img, uint64(len(idx)))
		img = le.AppendUint64(img, 4)
		img = append(img, idx...)
		img = append(img, "data"...)
		img = append(img, make([]byte, sha256.Size)...)
		fixChecksum(img)
		return img
	}
	_, err := LoadImage(build("ok.txt", "text/plain", 0, 4, 1))
	require.NoError(t, err)
	for name, img := range map[string][]byte{
		"traversal key":    build("../etc/passwd", "text/plain", 0, 4, 1),
		"absolute key":     build("/etc/passwd", "text/plain", 0, 4, 1),
		"header injection": build("a.txt", "text/plain\r\nSet-Cookie: x", 0, 4, 1),
		"range past end":   build("a.txt", "text/plain", 1, 4, 1),
		"range overflow":   build("a.txt", "text/plain", ^uint64(0), 2, 1),
		"huge count":       build("a.txt", "text/plain", 0, 4, 1<<31),
		"count too small":  build("a.txt", "text/plain", 0, 4, 0),
		"digest mismatch":  build("a.txt", "text/plain", 0, 3, 1),
	} {
		_, err := LoadImage(img)
		require.ErrorIs(t, err, ErrCorruptImage, name)
	}
}

func fixChecksum(img []byte) {
	sum := sha256.Sum256(img[:len(img)-sha256.Size])
	copy(img[len(img)-sha256.Size:], sum[:])
}

// FuzzLoadImage feeds arbitrary bytes to LoadImage, as they are and with the whole-image
// checksum made valid, so the fuzzer reaches the index parser. LoadImage must never panic;
// whatever it accepts must be self-consistent and write back to the same image.
func FuzzLoadImage(f *testing.F) {
	_, img := testImage(f)
	f.Add(img)
	var empty bytes.Buffer
	require.NoError(f, WriteImage(&empty, Empty()))
	f.Add(empty.Bytes())
	f.Add(img[:60])
	f.Add([]byte(imageMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fix := range []bool{false, true} {
			in := bytes.Clone(b)
			if fix && len(in) >= sha256.Size {
				fixChecksum(in)
			}
			s, err := LoadImage(in)
			if err != nil {
				require.ErrorIs(t, err, ErrCorruptImage)
				require.Nil(t, s)
				continue
			}
			for e := range s.All() {
				require.True(t, ValidKey(e.Key))
				require.Equal(t, Digest(sha256.Sum256(e.Data)), e.Digest)
				for _, v := range e.Variants {
					require.Less(t, v.Size, e.Size)
					require.Equal(t, Digest(sha256.Sum256(v.Data)), v.Digest)
				}
			}
			var out bytes.Buffer
			require.NoError(t, WriteImage(&out, s))
			s2, err := LoadImage(out.Bytes())
			require.NoError(t, err)
			require.Equal(t, s.Len(), s2.Len())
		}
	})
}

// TestKvimageCommand builds an image with the command as go generate would run it.
func TestKvimageCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	site := makeSite(t)
	out := filepath.Join(t.TempDir(), "site.kvimg")
	cmd := exec.Command("go", "run", "./cmd/kvimage", "-o", out, "-q", site)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	s, err := OpenImage(out)
	require.NoError(t, err)
	checkSite(t, s)
	e := mustLookup(t, s, "index.html")
	require.Empty(t, e.Variants, "too small to gain from compression")
	e = mustLookup(t, s, "app.js")
	require.Len(t, e.Variants, 3, "sidecar gzip plus computed br and zstd")

	// A truncated file is refused, naming the file.
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, b[:len(b)/2], 0o644))
	_, err = OpenImage(out)
	require.ErrorIs(t, err, ErrCorruptImage)
	require.ErrorContains(t, err, out)
}
