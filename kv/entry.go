package kv

import (
	"crypto/sha256"
	"fmt"
	"time"
)

// newEntry builds the entry of data under key: digest, content type and the variants of
// encodings (for compressible types). It takes ownership of data.
func newEntry(key string, data []byte, meta Meta, encodings []string) (*Entry, error) {
	if meta.ContentType == "" {
		meta.ContentType = ContentType(key)
	}
	e := &Entry{
		Info: Info{
			Key:         key,
			Size:        int64(len(data)),
			ModTime:     meta.ModTime,
			Digest:      sha256.Sum256(data),
			ContentType: meta.ContentType,
		},
		Data: data,
	}
	if len(encodings) > 0 && Compressible(e.ContentType) {
		for _, enc := range encodings {
			z, err := Compress(enc, data)
			if err != nil {
				return nil, fmt.Errorf("kv: %s: %w", key, err)
			}
			e.addVariant(enc, z)
		}
	}
	return e, nil
}

// addVariant adds the encoded form z if it is smaller than the content and the entry has no
// variant of that encoding yet, keeping Variants in preference order. It reports whether it
// added it.
func (e *Entry) addVariant(enc string, z []byte) bool {
	if len(z) >= len(e.Data) || encodingRank(enc) < 0 {
		return false
	}
	if _, ok := e.Variant(enc); ok {
		return false
	}
	v := Variant{Encoding: enc, Size: int64(len(z)), Digest: sha256.Sum256(z), Data: z}
	i := 0
	for i < len(e.Variants) && encodingRank(e.Variants[i].Encoding) < encodingRank(enc) {
		i++
	}
	e.Variants = append(e.Variants, Variant{})
	copy(e.Variants[i+1:], e.Variants[i:])
	e.Variants[i] = v
	return true
}

// encodingRank orders the encodings by preference (smallest output first); -1 if unknown.
func encodingRank(enc string) int {
	switch enc {
	case EncodingBrotli:
		return 0
	case EncodingZstd:
		return 1
	case EncodingGzip:
		return 2
	}
	return -1
}

// withKey returns a copy of e under another key: same content, modification time and
// variants; the content type follows the new extension unless it was given explicitly
// (differs from the one of the old key).
func (e *Entry) withKey(key string) *Entry {
	c := *e
	c.Key = key
	if e.ContentType == ContentType(e.Key) {
		c.ContentType = ContentType(key)
	}
	return &c
}

// now is the modification time of a write without one, to the second as HTTP dates are.
func now() time.Time { return time.Now().Truncate(time.Second) }
