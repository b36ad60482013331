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
// EncodingZstd) at the best compression level: this runs once per entry, when content is
// built or loaded, never per request. Brotli uses github.com/andybalholm/brotli and zstd
// github.com/klauspost/compress/zstd.
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
		w = brotli.NewWriterLevel(&b, brotli.BestCompression)
	case EncodingZstd:
		// A window no larger than the content keeps the decoder's memory small; browsers
		// refuse windows beyond 8 MiB.
		zw, err := zstd.NewWriter(&b, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
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
