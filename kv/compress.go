package kv

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Encodings returns the content encodings the package produces and decodes, in preference
// order (smallest output first): brotli, zstd, gzip.
func Encodings() []string { return []string{EncodingBrotli, EncodingZstd, EncodingGzip} }

// Compress encodes data with the content encoding enc (EncodingGzip, EncodingBrotli or
// EncodingZstd). It runs once per entry, when content is built or loaded, never per request,
// so it compresses hard, but within a memory bound a small appliance can afford at start-up:
// about 32 MiB for one entry (BenchmarkCompress measures it).
//
//   - gzip: best compression (compress/gzip, under 2 MiB).
//   - brotli (github.com/andybalholm/brotli): quality 11 with a window no larger than the
//     content, up to 256 KiB of content; quality 6 with a 1 MiB window beyond that, where
//     quality 11 would take about 80 bytes of memory and 2.5 µs per byte of content (81 MB
//     and 2.4 s for 1 MiB of text) for output 10% smaller.
//   - zstd (github.com/klauspost/compress/zstd): the "better" level with a window no larger
//     than the content. The "best" level allocates 37 MB of tables whatever the content's
//     size (25 ms for a 1.5 KB page) for output 3–8% smaller, and browsers that accept zstd
//     also accept brotli, which is preferred.
func Compress(enc string, data []byte) ([]byte, error) {
	var b bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case EncodingGzip:
		zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		w = zw
	case EncodingBrotli:
		w = brotli.NewWriterOptions(&b, brotliOptions(len(data)))
	case EncodingZstd:
		// A window no larger than the content keeps the decoder's memory small; browsers
		// refuse windows beyond 8 MiB.
		zw, err := zstd.NewWriter(&b, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow(len(data))))
		if err != nil {
			return nil, err
		}
		w = zw
	default:
		return nil, fmt.Errorf("unsupported content encoding %q", enc)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(b.Bytes()), nil
}

// brotliBestMax is the largest content compressed at brotli's best quality (see Compress).
const brotliBestMax = 256 << 10

// brotliOptions returns the brotli quality and window for n bytes of content: the best
// quality up to brotliBestMax, quality 6 with at most a 1 MiB window beyond. The window bounds
// quality 6's memory (22 MB for 3.6 MB of text, 56 MB with a 16 MiB window); text rarely
// repeats itself from further back, and the output was 0.2% larger.
func brotliOptions(n int) brotli.WriterOptions {
	if n <= brotliBestMax {
		return brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: brotliWindow(n)}
	}
	return brotli.WriterOptions{Quality: 6, LGWin: min(brotliWindow(n), 20)}
}

// brotliWindow returns the base-2 logarithm of a brotli window that holds n bytes of content
// (a window holds 2^lgwin - 16 bytes), between brotli's limits of 10 and 24. The encoder's
// memory grows with its window; a window larger than the content gains nothing.
func brotliWindow(n int) int {
	lg := 10
	for 1<<lg-16 < n && lg < 24 {
		lg++
	}
	return lg
}

// zstdWindow returns a window size for n bytes of content: a power of two at least
// zstd.MinWindowSize and at most 8 MiB.
func zstdWindow(n int) int {
	w := zstd.MinWindowSize
	for w < n && w < 8<<20 {
		w <<= 1
	}
	return w
}

// decompress decodes data of content encoding enc, reading at most limit bytes of output
// (more is an error), so that a hostile sidecar cannot exhaust memory.
func decompress(enc string, data []byte, limit int64) ([]byte, error) {
	var r io.Reader
	switch enc {
	case EncodingGzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case EncodingBrotli:
		r = brotli.NewReader(bytes.NewReader(data))
	case EncodingZstd:
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(limit)+1<<20), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unsupported content encoding %q", enc)
	}
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%s data decodes to more than %d bytes", enc, limit)
	}
	return out, nil
}
