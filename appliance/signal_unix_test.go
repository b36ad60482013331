//go:build unix

package appliance_test

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/leaktest"
)

// TestRunSignals sends the test process SIGHUP, which Run answers with the reload callback
// (a failing reload leaves the app serving), then SIGTERM, on which Run shuts down and
// returns nil. Run catches both before it prints its lines, so the process survives them.
func TestRunSignals(t *testing.T) {
	before := baseline()
	var reloads atomic.Int32
	cfg := &appliance.Config{Reload: func(ctx context.Context) error {
		if reloads.Add(1) == 1 {
			return errors.New("first reload fails")
		}
		return nil
	}}
	r := startRun(t, cfg, []string{"-listen", "127.0.0.1:0"}, appliance.Port{Number: 80, Handler: text("up")})
	for want := int32(1); want <= 2; want++ {
		require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
		require.Eventually(t, func() bool { return reloads.Load() == want }, 10*time.Second, time.Millisecond)
		require.Equal(t, "up", fetch(t, client, r.urls[0]+"/"))
	}
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	require.NoError(t, r.wait(t))
	require.Equal(t, int32(2), reloads.Load())
	leaktest.Settle(t, before)
}
