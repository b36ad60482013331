package kv

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := header{size: 10000, chunkSize: 4096, gen: newGeneration(), meta: []byte(`{"name":"x"}`),
		chunks: []Digest{sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b")), sha256.Sum256([]byte("c"))}}
	h.digest = sha256.Sum256([]byte("all"))
	b := h.encode()
	got, err := decodeHeader(b)
	require.NoError(t, err)
	require.Equal(t, h, got)
	require.Equal(t, 4096, got.chunkLen(1))
	require.Equal(t, 10000-2*4096, got.chunkLen(2))
	for i := range b { // every single-bit flip is caught by the CRC
		b[i] ^= 1
		_, err := decodeHeader(b)
		require.ErrorIs(t, err, errBadHeader, i)
		b[i] ^= 1
	}
	_, err = decodeHeader(b[:len(b)-1])
	require.ErrorIs(t, err, errBadHeader)
}

// FuzzDecodeHeader feeds stored headers, which may be damaged, to decodeHeader: it must
// refuse or accept them without panicking, and what it accepts must encode back to the input.
func FuzzDecodeHeader(f *testing.F) {
	h := header{size: 5000, chunkSize: 4096, gen: "0123", meta: []byte("m"),
		chunks: []Digest{{1}, {2}}}
	f.Add(h.encode())
	f.Add((&header{chunkSize: 1, gen: "g"}).encode())
	f.Add([]byte(recordMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			return
		}
		require.Equal(t, b, h.encode())
	})
}
