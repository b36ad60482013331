package parktick

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaited(t *testing.T) {
	for _, tc := range []struct {
		since, now uint64
		want       bool
	}{
		{since: 0, now: 0, want: false},
		{since: 0, now: 1, want: false}, // began before tick 1: not yet a whole tick
		{since: 0, now: 2, want: true},
		{since: 5, now: 6, want: false},
		{since: 5, now: 7, want: true},
		{since: 7, now: 7, want: false},
	} {
		assert.Equal(t, tc.want, Waited(tc.since, tc.now), "since %d, now %d", tc.since, tc.now)
	}
}

func TestRunCountsTicksUntilStopped(t *testing.T) {
	var c Clock
	stop := make(chan struct{})
	visits := make(chan uint64, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(stop, func(tick uint64) { visits <- tick })
	}()
	for want := uint64(1); want <= 3; want++ {
		select {
		case got := <-visits:
			require.Equal(t, want, got)
			require.GreaterOrEqual(t, c.Now(), got)
		case <-time.After(10 * Interval):
			t.Fatalf("no tick %d", want)
		}
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(10 * Interval):
		t.Fatal("Run did not return after stop")
	}
	assert.Equal(t, 3+uint64(len(visits)), c.Now(), "every tick counted was visited")
}
