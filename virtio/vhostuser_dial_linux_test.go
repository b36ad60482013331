package virtio_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/virtio"
)

// A backend that is not there is an error, not a panic in the cleanup of the half-built
// transport.
func TestDialVhostUserNoBackend(t *testing.T) {
	_, err := virtio.DialVhostUser(filepath.Join(t.TempDir(), "none.sock"), nil)
	require.ErrorContains(t, err, "vhost-user")
}
