package kv

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/leaktest"
)

// site returns a snapshot whose every page says version v.
func site(t testing.TB, v int) *Snapshot {
	m := NewMem(nil)
	var b Batch
	for _, k := range []string{"index.html", "about/index.html", "posts/a.html", "posts/b.html"} {
		b.Set(k, fmt.Appendf(nil, "v%d %s", v, k))
	}
	if v%2 == 1 {
		b.Set(fmt.Sprintf("only-in-odd-%d.html", v), nil)
	}
	require.NoError(t, m.Apply(&b))
	return m.Snapshot()
}

// TestSwapConcurrentReaders replaces the content while readers, each taking a snapshot
// per "request", read several keys: no read fails and no request sees two versions.
// Run it with -race.
func TestSwapConcurrentReaders(t *testing.T) {
	before := runtime.NumGoroutine()
	defer leaktest.Settle(t, before)

	s := NewSwap(site(t, 0))
	w := s.Watch("")
	defer w.Close()
	var stop atomic.Bool
	var requests atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			var lastGen uint64
			for !stop.Load() {
				snap := s.Snapshot()
				if snap.Generation() < lastGen {
					errs <- fmt.Errorf("generation went back from %d to %d", lastGen, snap.Generation())
					return
				}
				lastGen = snap.Generation()
				var version string
				for _, k := range []string{"index.html", "about/index.html", "posts/a.html", "posts/b.html"} {
					b, err := snap.Get(k)
					if err != nil {
						errs <- fmt.Errorf("get %s: %w", k, err)
						return
					}
					v, _, _ := bytesCut(b, ' ')
					if version == "" {
						version = v
					} else if v != version {
						errs <- fmt.Errorf("one request saw %s and %s", version, v)
						return
					}
				}
				requests.Add(1)
			}
		})
	}
	const replacements = 200
	gens := make([]uint64, 0, replacements)
	for v := 1; v <= replacements; v++ {
		next := site(t, v)
		old := s.Replace(next)
		require.Less(t, old.Generation(), next.Generation())
		gens = append(gens, next.Generation())
	}
	for requests.Load() < 1000 {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, gens[len(gens)-1], s.Generation())
	got, err := s.Get("index.html")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("v%d index.html", replacements), string(got))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := w.Next(ctx)
	require.NoError(t, err)
	require.True(t, c.All)
	require.Equal(t, s.Generation(), c.Generation)
}

func bytesCut(b []byte, sep byte) (string, string, bool) {
	for i, c := range b {
		if c == sep {
			return string(b[:i]), string(b[i+1:]), true
		}
	}
	return string(b), "", false
}

// TestMemConcurrent reads and writes a Mem from several goroutines (for -race).
func TestMemConcurrent(t *testing.T) {
	m := NewMem(nil)
	require.NoError(t, m.Set("fixed.html", []byte("fixed")))
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := range 300 {
				k := fmt.Sprintf("g%d/%d.html", g, i%10)
				require.NoError(t, m.Set(k, []byte(k)))
				got, err := m.Get("fixed.html")
				require.NoError(t, err)
				require.Equal(t, "fixed", string(got))
				snap := m.Snapshot()
				require.True(t, snap.Exists("fixed.html"))
				_, err = m.List("")
				require.NoError(t, err)
				if i%3 == 0 {
					require.NoError(t, m.Remove(k))
				}
			}
		})
	}
	wg.Wait()
}

func TestNewSwapNilAndMemFrom(t *testing.T) {
	s := NewSwap(nil)
	require.Zero(t, s.Snapshot().Len())
	_, err := s.Get("x")
	require.ErrorIs(t, err, ErrNotFound)
	m := NewMemFrom(site(t, 3), nil)
	require.True(t, m.Exists("only-in-odd-3.html"))
	require.NoError(t, m.Remove("only-in-odd-3.html"))
	s.Replace(m)
	require.Equal(t, 4, s.Snapshot().Len())
}
