//go:build linux

package soak

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resetAfter is how much of the 8 MiB file each resetting client reads before it resets.
const resetAfter = 256 << 10

// Resets sends the mode's clients, all at once, to a fresh appliance: each requests the 8 MiB
// file, reads resetAfter of it and resets the connection (SO_LINGER 0). It checks that
// nothing leaks: the stack's connections go back to none, goroutines and resident memory to
// their baseline, and the appliance serves on.
func Resets(t *testing.T, bin string, site *Site, n *Net, m Mode) *ResetResult {
	a := Start(t, bin, n, "-site", site.Dir)
	base := a.Baseline(t)
	r := &ResetResult{Clients: m.Resets, BaselineRSS: base.RSS, BaselineRoutines: base.Goroutines}

	s := StartSampler(a, 500*time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, m.Resets)
	for range m.Resets {
		wg.Go(func() {
			if err := resetMidway(a); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	during, err := s.Stop()
	require.NoError(t, err)
	for _, smp := range during {
		r.PeakRSS = max(r.PeakRSS, smp.RSS)
	}

	now, returnedIn := awaitSettled(t, a, base, m.Resets)
	r.ReturnedIn = returnedIn
	r.AfterRSS, r.AfterRoutines, r.AfterConns = now.RSS, now.Goroutines, now.Conns
	t.Logf("%s: %d clients reset mid-download: RSS %.1f → %.1f → %.1f MiB, goroutines %d → %d, %d connections left, in %.1f s",
		n.Name, m.Resets, mib(base.RSS), mib(r.PeakRSS), mib(r.AfterRSS), base.Goroutines, r.AfterRoutines, r.AfterConns, r.ReturnedIn)
	assert.Zero(t, r.AfterConns, "connections the stack kept after their clients reset")
	assert.LessOrEqual(t, r.AfterRoutines, base.Goroutines+settledGoroutines, "goroutines leaked")
	assert.LessOrEqual(t, r.AfterRSS, base.RSS+returnSlack(m.Resets), "memory did not return within %v", ReturnWait)
	for _, f := range Files {
		body, _, err := a.Get(context.Background(), f.Path())
		if assert.NoError(t, err, "serving after the resets") {
			assert.Len(t, body, f.Size)
		}
	}
	a.Stop(t)
	return r
}

// resetMidway requests the 8 MiB file, reads resetAfter bytes of the response and resets the
// connection.
func resetMidway(a *Appliance) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := a.Dial(ctx)
	if err != nil {
		return err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, "GET /8m.bin HTTP/1.1\r\nHost: soak\r\n\r\n"); err != nil {
		c.Close()
		return err
	}
	if _, err := io.CopyN(io.Discard, c, resetAfter); err != nil {
		c.Close()
		return err
	}
	c.(*net.TCPConn).SetLinger(0)
	return c.Close()
}
