package payload

import (
	"crypto/sha256"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStreamIsReproducible checks that two readers give the same bytes, that Sum is their
// digest, and that a prefix of the stream differs from a longer one's digest.
func TestStreamIsReproducible(t *testing.T) {
	a, err := io.ReadAll(Reader(100000))
	require.NoError(t, err)
	b, err := io.ReadAll(Reader(100000))
	require.NoError(t, err)
	require.Len(t, a, 100000)
	require.Equal(t, a, b)
	require.Equal(t, sha256.Sum256(a), Sum(100000))
	require.NotEqual(t, Sum(99999), Sum(100000))
}
