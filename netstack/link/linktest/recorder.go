package linktest

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

// DefaultTimeout bounds every wait of this package: long enough for a loaded machine running
// the race detector, short enough that a lost frame fails its test rather than the whole test
// binary's timeout.
const DefaultTimeout = 30 * time.Second

// Received is a frame as a [Recorder] saw it: a copy of its bytes and its offload metadata.
type Received struct {
	Data    []byte
	Offload link.Offload
}

// RecorderConfig adjusts a [Recorder]. The zero value records every frame and releases it
// before DeliverFrames returns.
type RecorderConfig struct {
	// Filter selects the frames to record. Frames it rejects are still counted in
	// [Recorder.Totals] and released, but not kept. Nil records every frame.
	Filter func(frame []byte) bool
	// AsyncRelease releases each batch from a goroutine of its own, after DeliverFrames has
	// returned, as a receiver that hands frames to other goroutines does.
	AsyncRelease bool
	// Timeout bounds the Wait methods. Zero means [DefaultTimeout].
	Timeout time.Duration
}

// Recorder is a [link.Receiver] for tests: it copies every frame it is given, gives each back
// to its link exactly once and records link-state changes, and it waits for what it expects
// without polling. It can also hold frames lent ([Recorder.Hold]) and stall the link's
// delivery ([Recorder.Block]).
//
// It checks the receive side of the frame contract as it goes and reports what it caught
// through [Recorder.Problems]: DeliverFrames called concurrently, a frame delivered with the
// Cookie of a frame still lent, the bytes of a held frame changed before its release.
//
// Its methods are safe for concurrent use; the Wait methods call t.Fatal and therefore belong
// to the test's goroutine.
type Recorder struct {
	l          link.Link
	filter     func([]byte) bool
	async      bool
	timeout    time.Duration
	delivering atomic.Int32
	concurrent bool // DeliverFrames may be called concurrently (AllowConcurrentDelivery)

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced whenever something is recorded
	frames     []Received
	states     []bool
	batches    int
	total      uint64
	totalBytes uint64
	released   uint64
	releasing  int             // AsyncRelease goroutines that have not returned
	last       time.Time       // when the last frame arrived
	lent       map[uint64]bool // cookies of frames lent and not released
	hold       int             // frames still to hold
	held       []heldFrame     // frames kept lent by Hold
	gate       chan struct{}   // while non-nil, DeliverFrames waits for it to be closed
	blocked    int             // DeliverFrames calls waiting at the gate
	problems   []string
	seen       map[string]struct{} // problems already reported, to report each once
}

// heldFrame is a frame kept lent, with a copy of its bytes to compare at release.
type heldFrame struct {
	f    link.Frame
	data []byte
}

var _ link.Receiver = (*Recorder)(nil)

// NewRecorder returns a Recorder that releases frames to l. A nil cfg means the defaults.
func NewRecorder(l link.Link, cfg *RecorderConfig) *Recorder {
	var c RecorderConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return &Recorder{
		l:       l,
		filter:  c.Filter,
		async:   c.AsyncRelease,
		timeout: c.Timeout,
		changed: make(chan struct{}),
		lent:    make(map[uint64]bool),
	}
}

// AllowConcurrentDelivery stops the Recorder from reporting concurrent DeliverFrames calls as
// a problem, for a link that documents them.
func (r *Recorder) AllowConcurrentDelivery() {
	r.mu.Lock()
	r.concurrent = true
	r.mu.Unlock()
}

// DeliverFrames implements [link.Receiver]: it records copies of the frames and releases
// them, except those it was told to hold. While the Recorder is blocked it waits for
// [Recorder.Unblock] before it releases them and returns.
func (r *Recorder) DeliverFrames(frames []link.Frame) {
	if r.delivering.Add(1) > 1 {
		r.mu.Lock()
		if !r.concurrent {
			r.problemLocked("DeliverFrames called concurrently")
		}
		r.mu.Unlock()
	}
	defer r.delivering.Add(-1)

	release := make([]link.Frame, 0, len(frames))
	r.mu.Lock()
	r.batches++
	r.last = time.Now()
	for i := range frames {
		f := frames[i]
		data := join(f.Segments)
		if r.lent[f.Cookie] {
			r.problemLocked(fmt.Sprintf("frame delivered with cookie %#x, which a frame still lent has", f.Cookie))
		}
		r.lent[f.Cookie] = true
		r.total++
		r.totalBytes += uint64(len(data))
		if r.filter == nil || r.filter(data) {
			r.frames = append(r.frames, Received{Data: data, Offload: f.Offload})
		}
		if r.hold > 0 {
			r.hold--
			r.held = append(r.held, heldFrame{f: f, data: data})
			continue
		}
		release = append(release, f)
	}
	gate := r.gate
	if gate != nil {
		r.blocked++
	}
	r.signalLocked()
	r.mu.Unlock()

	if gate != nil {
		<-gate
		r.mu.Lock()
		r.blocked--
		r.mu.Unlock()
	}
	r.release(release)
}

// LinkStateChanged implements [link.Receiver] and records up.
func (r *Recorder) LinkStateChanged(up bool) {
	r.mu.Lock()
	r.states = append(r.states, up)
	r.signalLocked()
	r.mu.Unlock()
}

// release gives frames back to the link, from a new goroutine with AsyncRelease.
func (r *Recorder) release(frames []link.Frame) {
	if len(frames) == 0 {
		return
	}
	r.mu.Lock()
	for i := range frames {
		delete(r.lent, frames[i].Cookie)
	}
	r.released += uint64(len(frames))
	if r.async {
		r.releasing++
	}
	r.mu.Unlock()
	if !r.async {
		r.l.Release(frames)
		return
	}
	go func() {
		r.l.Release(frames)
		r.mu.Lock()
		r.releasing--
		r.signalLocked()
		r.mu.Unlock()
	}()
}

// join returns a copy of a frame's bytes in one slice.
func join(segs [][]byte) []byte {
	n := 0
	for _, s := range segs {
		n += len(s)
	}
	b := make([]byte, 0, n)
	for _, s := range segs {
		b = append(b, s...)
	}
	return b
}

func (r *Recorder) signalLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Recorder) problemLocked(p string) {
	if r.seen == nil {
		r.seen = make(map[string]struct{})
	}
	if _, ok := r.seen[p]; ok {
		return
	}
	r.seen[p] = struct{}{}
	r.problems = append(r.problems, p)
}

// Hold makes the Recorder keep the next n frames lent instead of releasing them, until
// [Recorder.ReleaseHeld].
func (r *Recorder) Hold(n int) {
	r.mu.Lock()
	r.hold = n
	r.mu.Unlock()
}

// Held returns the frames held so far, as they were delivered.
func (r *Recorder) Held() []link.Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	fs := make([]link.Frame, len(r.held))
	for i := range r.held {
		fs[i] = r.held[i].f
	}
	return fs
}

// ReleaseHeld releases the frames held so far and stops holding. Before it does, it checks
// that the link has not changed their bytes while they were lent and reports a problem if it
// has. It returns how many frames it released.
func (r *Recorder) ReleaseHeld() int {
	r.mu.Lock()
	held := r.held
	r.held, r.hold = nil, 0
	fs := make([]link.Frame, len(held))
	for i := range held {
		fs[i] = held[i].f
		if !bytes.Equal(join(held[i].f.Segments), held[i].data) {
			r.problemLocked(fmt.Sprintf("the bytes of a lent frame (cookie %#x) changed before it was released", held[i].f.Cookie))
		}
	}
	r.mu.Unlock()
	r.release(fs)
	return len(fs)
}

// Block makes every DeliverFrames call from now on wait, without releasing its frames, until
// [Recorder.Unblock]: a receiver that has stopped taking frames, which holds up the link.
// Unblock it before closing the link, whose Close waits for its delivery goroutine.
func (r *Recorder) Block() {
	r.mu.Lock()
	if r.gate == nil {
		r.gate = make(chan struct{})
	}
	r.mu.Unlock()
}

// Unblock lets the DeliverFrames calls waiting since [Recorder.Block] go on, and later ones
// pass. It is harmless when the Recorder is not blocked.
func (r *Recorder) Unblock() {
	r.mu.Lock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
	r.mu.Unlock()
}

// Blocked returns how many DeliverFrames calls are waiting for [Recorder.Unblock].
func (r *Recorder) Blocked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blocked
}

// Drain waits until the releases started by AsyncRelease have returned.
func (r *Recorder) Drain() {
	for {
		r.mu.Lock()
		n, ch := r.releasing, r.changed
		r.mu.Unlock()
		if n == 0 {
			return
		}
		<-ch
	}
}

// Frames returns the frames recorded so far, in the order they arrived.
func (r *Recorder) Frames() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.frames...)
}

// Len returns the number of frames recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

// States returns the link-state changes recorded so far.
func (r *Recorder) States() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.states...)
}

// Batches returns the number of DeliverFrames calls so far.
func (r *Recorder) Batches() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batches
}

// Totals returns the number of frames delivered so far and their bytes, the frames the
// Filter rejected included: what the link's RxFrames and RxBytes should count.
func (r *Recorder) Totals() (frames, bytes uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.totalBytes
}

// Released returns the number of frames the Recorder has given back to the link so far.
func (r *Recorder) Released() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.released
}

// Problems returns the contract violations the Recorder has seen, each once.
func (r *Recorder) Problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.problems...)
}

// Check fails t if the Recorder has seen a contract violation.
func (r *Recorder) Check(t testing.TB) {
	t.Helper()
	require.Empty(t, r.Problems(), "the link broke the receive contract")
}

// WaitFor waits until cond holds for the frames recorded so far and returns them, or fails t
// after the Recorder's timeout. cond is called with the Recorder locked, each time something
// is recorded; it must not keep the slice, which only grows from one call to the next, so
// that cond may remember how far it has looked.
func (r *Recorder) WaitFor(t testing.TB, what string, cond func(frames []Received) bool) []Received {
	t.Helper()
	r.wait(t, what, func() bool { return cond(r.frames) })
	return r.Frames()
}

// WaitFrames waits until at least n frames are recorded and returns them.
func (r *Recorder) WaitFrames(t testing.TB, n int) []Received {
	t.Helper()
	return r.WaitFor(t, fmt.Sprintf("%d frames", n), func(fs []Received) bool { return len(fs) >= n })
}

// WaitMatch waits until a recorded frame satisfies match and returns the first that does.
func (r *Recorder) WaitMatch(t testing.TB, what string, match func(Received) bool) Received {
	t.Helper()
	var found Received
	r.wait(t, what, func() bool {
		for _, f := range r.frames {
			if match(f) {
				found = f
				return true
			}
		}
		return false
	})
	return found
}

// WaitStates waits until as many link-state changes as want are recorded and requires that
// they are want.
func (r *Recorder) WaitStates(t testing.TB, want ...bool) {
	t.Helper()
	r.wait(t, fmt.Sprintf("link states %v", want), func() bool { return len(r.states) >= len(want) })
	require.Equal(t, want, r.States(), "link-state changes")
}

// WaitBlocked waits until at least one DeliverFrames call waits at the gate of
// [Recorder.Block].
func (r *Recorder) WaitBlocked(t testing.TB) {
	t.Helper()
	r.wait(t, "a DeliverFrames call to block", func() bool { return r.blocked > 0 })
}

// Settle waits until no frame has arrived for d and returns the frames recorded: for lossy
// links, where the number of frames to wait for is unknown. It gives up after the
// Recorder's timeout, without failing, if frames keep arriving.
func (r *Recorder) Settle(d time.Duration) []Received {
	start := time.Now()
	deadline := start.Add(r.timeout)
	for {
		r.mu.Lock()
		quiet := time.Since(r.last)
		if r.last.Before(start) {
			quiet = time.Since(start)
		}
		ch := r.changed
		r.mu.Unlock()
		if quiet >= d || time.Now().After(deadline) {
			return r.Frames()
		}
		select {
		case <-ch:
		case <-time.After(d - quiet):
		}
	}
}

// wait waits, without polling, until cond (called with r.mu held) holds.
func (r *Recorder) wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(r.timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			r.mu.Lock()
			n := len(r.frames)
			r.mu.Unlock()
			t.Fatalf("linktest: timed out after %v waiting for %s (%d frames recorded; link stats %+v)",
				r.timeout, what, n, r.l.Stats())
		}
	}
}

// waitChange waits until something is recorded or d has passed.
func (r *Recorder) waitChange(d time.Duration) {
	r.mu.Lock()
	ch := r.changed
	r.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}
