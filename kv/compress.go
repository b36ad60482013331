package kv

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

// Encodings returns the content encodings this build of the package can produce and
// decode, in preference order.
func Encodings() []string { return []string{EncodingGzip} }

// Compress encodes data with the content encoding enc at the best compression level: this
// runs once per entry at build or load time, never per request.
func Compress(enc string, data []byte) ([]byte, error) {
	var b bytes.Buffer
	switch enc {
	case EncodingGzip:
		w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unsupported content encoding %q", enc)
	}
	return b.Bytes(), nil
}

// decompress decodes data of content encoding enc, reading at most limit bytes of output
// (more is an error), so a hostile sidecar cannot exhaust memory.
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
