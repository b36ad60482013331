package kv

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/israce"
)

// compressMemoryBound is what compressing one entry may allocate: the bound Compress's doc
// promises, with room for the output buffer's growth.
const compressMemoryBound = 40 << 20

// TestCompressRoundTripsWithinMemory compresses text of sizes on both sides of brotli's
// quality threshold with every encoding, decodes it again, and checks that one entry's
// compression allocated no more than the bound a small appliance can afford at start-up.
func TestCompressRoundTripsWithinMemory(t *testing.T) {
	if israce.Enabled || testing.Short() {
		t.Skip("compressing megabytes at high levels takes seconds under -race")
	}
	for _, size := range []int{1 << 10, brotliBestMax, brotliBestMax + 1, 4 << 20} {
		data := textOfSize(size)
		for _, enc := range Encodings() {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			z, err := Compress(enc, data)
			runtime.ReadMemStats(&after)
			require.NoError(t, err, "%s %d", enc, size)
			t.Logf("%s of %d bytes: %d bytes, allocated %.1f MB", enc, size, len(z), float64(after.TotalAlloc-before.TotalAlloc)/1e6)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(compressMemoryBound),
				"%s of %d bytes allocated %d bytes", enc, size, after.TotalAlloc-before.TotalAlloc)
			require.Less(t, len(z), size/2, "%s of %d bytes: %d", enc, size, len(z))
			back, err := decompress(enc, z, int64(size))
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, back), "%s of %d bytes does not round-trip", enc, size)
		}
	}
}

func TestBrotliWindowHoldsContent(t *testing.T) {
	for n, want := range map[int]int{0: 10, 1008: 10, 1009: 11, 64 << 10: 17, 1 << 20: 21, 64 << 20: 24} {
		require.Equal(t, want, brotliWindow(n), "content of %d bytes", n)
	}
}

// BenchmarkCompress reports the time, the memory and the compressed size (ratio) of each
// encoding per entry, for a small page, a large page, the largest content brotli compresses
// at its best quality and a 1 MiB file.
func BenchmarkCompress(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, brotliBestMax, 1 << 20} {
		data := textOfSize(size)
		for _, enc := range Encodings() {
			b.Run(fmt.Sprintf("%s/%dKiB", enc, size>>10), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				var z []byte
				for b.Loop() {
					var err error
					z, err = Compress(enc, data)
					require.NoError(b, err)
				}
				b.ReportMetric(float64(len(z))/float64(size), "ratio")
			})
		}
	}
}

// textOfSize returns n bytes of HTML-like text that compresses about as a real page does:
// repeated markup around varied numbers.
func textOfSize(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<p class=\"post\">Paragraph %d of the post, word %x and %d more.</p>\n", i, uint32(i)*2654435761, i%97)
	}
	return b.Bytes()[:n]
}
