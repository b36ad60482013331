//go:build linux

package soak

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Clients checking every response while the site changes, beside wrk's load.
const (
	reloadCheckers = 16
	reloadWrkConns = 50
)

// Reload serves site from a fresh appliance under load (wrk's mixed round and checking
// clients) while, every second for the mode's ReloadFor, the site gets a new version and
// the appliance SIGHUP. It checks that no request failed, that every response the checking
// clients got is one version of its file whole with that version's entity tag, and that the
// appliance reloaded.
func Reload(t *testing.T, bin string, site *Site, n *Net, m Mode) *ReloadResult {
	a := Start(t, bin, n, "-site", site.Dir)
	r := &ReloadResult{Seconds: m.ReloadFor.Seconds()}
	load := StartLoad(t, a, 1, reloadWrkConns, m.ReloadFor, "")
	ctx, cancel := context.WithTimeout(context.Background(), m.ReloadFor)
	defer cancel()

	var (
		mu       sync.Mutex
		failures []string
		checked  int
		versions = map[string]bool{}
		wg       sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for i := range reloadCheckers {
		wg.Go(func() {
			for k := i; ctx.Err() == nil; k++ {
				f := Files[k%len(Files)]
				body, etag, err := a.Get(ctx, f.Path())
				if ctx.Err() != nil {
					return // cut short by the end of the run, not by the appliance
				}
				if err != nil {
					fail("GET %s: %v", f.Path(), err)
					continue
				}
				v, err := site.Check(f, body, etag)
				mu.Lock()
				checked++
				if err == nil {
					versions[v] = true
				}
				mu.Unlock()
				if err != nil {
					fail("%v", err)
				}
			}
		})
	}
	tick := time.NewTicker(time.Second)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			_, err := site.Next()
			require.NoError(t, err)
			require.NoError(t, a.Signal(syscall.SIGHUP))
			r.Reloads++
		}
	}
	tick.Stop()
	wg.Wait()
	res, out, err := load.Wait()
	require.NoError(t, err)
	if f := Failures(res); f != "" {
		fail("wrk: %s", f)
	}
	// The last reload may still be under way: give it the time a reload takes.
	require.Eventually(t, func() bool { return strings.Count(a.Logs(), "content reloaded") >= r.Reloads },
		10*time.Second, 50*time.Millisecond, "the appliance logged fewer reloads than the %d SIGHUPs", r.Reloads)
	r.Reloaded = strings.Count(a.Logs(), "content reloaded")
	r.Checked, r.Versions, r.WrkReqs = checked, len(versions), res.Requests
	r.Failures = strings.Join(failures, "; ")
	t.Logf("%s: %d reloads, %d responses checked, %d versions of files seen, wrk %d requests", n.Name,
		r.Reloaded, r.Checked, r.Versions, r.WrkReqs)
	assert.Empty(t, r.Failures, "wrk said:\n%s", out)
	assert.NotContains(t, a.Logs(), "reload failed")
	assert.Greater(t, r.Versions, len(Files), "the checking clients saw no file change")
	a.Stop(t)
	return r
}
