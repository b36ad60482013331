package boltkv_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/kv"
	"github.com/unikit/unikit/kv/boltkv"
	"github.com/unikit/unikit/kv/kvtest"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		e, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), nil)
		require.NoError(t, err)
		return e
	})
}
