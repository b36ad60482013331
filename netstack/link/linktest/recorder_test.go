package linktest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

// fakeLink is the least of a link for the receivers' tests: it counts the releases of each
// cookie and the goroutines they came from.
type fakeLink struct {
	mu       sync.Mutex
	released map[uint64]int
}

func newFakeLink() *fakeLink { return &fakeLink{released: map[uint64]int{}} }

func (l *fakeLink) MAC() net.HardwareAddr              { return macA }
func (l *fakeLink) MTU() int                           { return 1500 }
func (l *fakeLink) Features() link.Features            { return 0 }
func (l *fakeLink) Start(link.Receiver) error          { return nil }
func (l *fakeLink) Transmit([]link.Frame) (int, error) { return 0, link.ErrClosed }
func (l *fakeLink) Up() bool                           { return true }
func (l *fakeLink) Stats() link.Stats                  { return link.Stats{} }
func (l *fakeLink) Close() error                       { return nil }

func (l *fakeLink) Release(frames []link.Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range frames {
		l.released[f.Cookie]++
	}
}

func (l *fakeLink) releases(cookie uint64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released[cookie]
}

// lend returns a frame of data with cookie, in two segments.
func lend(data []byte, cookie uint64) link.Frame {
	return link.Frame{Segments: [][]byte{data[:3], data[3:]}, Cookie: cookie}
}

func TestRecorderRecordsAndReleases(t *testing.T) {
	l := newFakeLink()
	r := NewRecorder(l, &RecorderConfig{Filter: func(b []byte) bool { return b[0] != 'x' }})
	r.DeliverFrames([]link.Frame{lend([]byte("hello"), 1), lend([]byte("xskip"), 2)})
	r.DeliverFrames([]link.Frame{{Segments: [][]byte{[]byte("world")}, Cookie: 3, Offload: link.Offload{Flags: link.FlagDataValid}}})
	r.LinkStateChanged(true)

	got := r.WaitFrames(t, 2)
	require.Equal(t, []Received{{Data: []byte("hello")}, {Data: []byte("world"), Offload: link.Offload{Flags: link.FlagDataValid}}}, got)
	frames, bytes := r.Totals()
	require.Equal(t, uint64(3), frames, "filtered frames count in the totals")
	require.Equal(t, uint64(15), bytes)
	require.Equal(t, 2, r.Batches())
	require.Equal(t, uint64(3), r.Released())
	for c := uint64(1); c <= 3; c++ {
		require.Equal(t, 1, l.releases(c), "cookie %d released once", c)
	}
	r.WaitStates(t, true)
	require.Equal(t, "world", string(r.WaitMatch(t, "world", func(f Received) bool { return f.Data[0] == 'w' }).Data))
	r.Check(t)
}

func TestRecorderAsyncRelease(t *testing.T) {
	l := newFakeLink()
	r := NewRecorder(l, &RecorderConfig{AsyncRelease: true})
	for c := range uint64(100) {
		r.DeliverFrames([]link.Frame{lend([]byte("frame"), c)})
	}
	r.Drain()
	for c := range uint64(100) {
		require.Equal(t, 1, l.releases(c), "cookie %d", c)
	}
	r.Check(t)
}

func TestRecorderHoldCatchesChangedFrames(t *testing.T) {
	l := newFakeLink()
	r := NewRecorder(l, nil)
	r.Hold(2)
	a, b := []byte("aaaaa"), []byte("bbbbb")
	r.DeliverFrames([]link.Frame{lend(a, 1), lend(b, 2), lend([]byte("ccccc"), 3)})
	require.Len(t, r.Held(), 2)
	require.Zero(t, l.releases(1), "held")
	require.Equal(t, 1, l.releases(3), "not held")
	b[4] = 'X' // the link reused a lent buffer
	require.Equal(t, 2, r.ReleaseHeld())
	require.Equal(t, 1, l.releases(1))
	require.Equal(t, 1, l.releases(2))
	require.Len(t, r.Problems(), 1)
	require.Contains(t, r.Problems()[0], "changed")
}

func TestRecorderCatchesCookieOfLentFrame(t *testing.T) {
	r := NewRecorder(newFakeLink(), nil)
	r.Hold(1)
	r.DeliverFrames([]link.Frame{lend([]byte("first"), 7)})
	r.DeliverFrames([]link.Frame{lend([]byte("again"), 7)})
	require.Len(t, r.Problems(), 1)
	require.Contains(t, r.Problems()[0], "still lent")

	// Once released, a cookie may come back.
	r2 := NewRecorder(newFakeLink(), nil)
	r2.DeliverFrames([]link.Frame{lend([]byte("first"), 7)})
	r2.DeliverFrames([]link.Frame{lend([]byte("again"), 7)})
	require.Empty(t, r2.Problems())
}

func TestRecorderBlockAndConcurrentDelivery(t *testing.T) {
	l := newFakeLink()
	r := NewRecorder(l, nil)
	r.Block()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.DeliverFrames([]link.Frame{lend([]byte("stuck"), 1)})
	}()
	r.WaitBlocked(t)
	require.Zero(t, l.releases(1), "a blocked receiver releases nothing")
	// A second delivery while the first waits is a concurrent call (and blocks too).
	go r.DeliverFrames(nil)
	require.Eventually(t, func() bool { return r.Blocked() == 2 }, DefaultTimeout, time.Millisecond)
	require.Len(t, r.Problems(), 1)
	require.Contains(t, r.Problems()[0], "concurrently")
	r.Unblock()
	<-done
	require.Equal(t, 1, l.releases(1))
	require.Eventually(t, func() bool { return r.Blocked() == 0 }, DefaultTimeout, time.Millisecond)

	r2 := NewRecorder(l, nil)
	r2.AllowConcurrentDelivery()
	r2.Block()
	go r2.DeliverFrames(nil)
	go r2.DeliverFrames(nil)
	require.Eventually(t, func() bool { return r2.Blocked() == 2 }, DefaultTimeout, time.Millisecond)
	r2.Unblock()
	require.Empty(t, r2.Problems(), "allowed")
}

func TestRecorderSettle(t *testing.T) {
	r := NewRecorder(newFakeLink(), nil)
	go func() {
		for c := range uint64(5) {
			r.DeliverFrames([]link.Frame{lend([]byte("tick!"), c)})
		}
	}()
	r.WaitFrames(t, 5)
	start := time.Now()
	require.Len(t, r.Settle(20*time.Millisecond), 5)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "quiet for the whole period")
}

func TestCounter(t *testing.T) {
	l := newFakeLink()
	c := NewCounter(l, func(f *link.Frame) bool { return f.Cookie%2 == 0 })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range uint64(10) {
			c.DeliverFrames([]link.Frame{{Cookie: i}})
		}
	}()
	require.NoError(t, c.Wait(3))
	require.NoError(t, c.Wait(2))
	<-done
	require.Equal(t, 5, c.Count())
	for i := range uint64(10) {
		require.Equal(t, 1, l.releases(i), "every frame is released, counted or not")
	}
}
