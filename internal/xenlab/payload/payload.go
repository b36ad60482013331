// Package payload is the bulk data the Xen test moves between dom0 and the domU: a byte stream
// both ends generate from the same seed, so that the receiver checks every byte by its
// SHA-256 without the sender's copy.
package payload

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
)

// seed is the ChaCha8 key of the stream; any fixed value does.
var seed = [32]byte{'u', 'n', 'i', 'k', 'i', 't', ' ', 'x', 'e', 'n', 'l', 'a', 'b'}

// Reader returns the first n bytes of the stream.
func Reader(n int64) io.Reader { return io.LimitReader(rand.NewChaCha8(seed), n) }

// Sum returns the SHA-256 of the first n bytes of the stream.
func Sum(n int64) [sha256.Size]byte {
	h := sha256.New()
	io.Copy(h, Reader(n))
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}
