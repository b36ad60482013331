package pipe

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

// replyBit marks a reply's sequence number: a replier answers every frame but a reply, as a
// stack answers a segment for a connection it does not know with a reset, and a reset with
// nothing.
const replyBit = 1 << 31

// replier is a receiver that, like the netstack adapter, releases each batch before it
// handles it and then, like gVisor answering a segment for an unknown connection, transmits a
// reply to every frame synchronously from inside DeliverFrames. Before it handles its first
// batch it waits for gate, so that a test can fill both directions first.
type replier struct {
	l       *Link
	gate    chan struct{}
	entered chan struct{} // closed when the first batch has arrived and been released
	once    sync.Once

	mu      sync.Mutex
	got     []uint32 // sequence numbers received, replies included
	replied atomic.Int64
}

func newReplier(l *Link) *replier {
	return &replier{l: l, gate: make(chan struct{}), entered: make(chan struct{})}
}

func (r *replier) DeliverFrames(frames []link.Frame) {
	seqs := make([]uint32, len(frames))
	for i := range frames {
		seqs[i] = seqOf(frames[i].Segments[0])
	}
	r.l.Release(frames)
	r.once.Do(func() {
		close(r.entered)
		<-r.gate
	})
	r.mu.Lock()
	r.got = append(r.got, seqs...)
	r.mu.Unlock()
	for _, s := range seqs {
		if s&replyBit != 0 {
			continue
		}
		f := testFrame(r.l.MAC(), r.l.Peer().MAC(), s|replyBit, 60)
		if n, err := r.l.Transmit([]link.Frame{{Segments: [][]byte{f}}}); n == 1 && err == nil {
			r.replied.Add(1)
		}
	}
}

func (r *replier) LinkStateChanged(bool) {}

// received returns how many frames arrived, and how many of them were replies.
func (r *replier) received() (all, replies int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.got {
		if s&replyBit != 0 {
			replies++
		}
	}
	return len(r.got), replies
}

// waitOrDump waits until cond holds, and fails t with every goroutine's stack if it does not
// within timeout: a deadlock shows in the dump instead of hanging the test binary.
func waitOrDump(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s: not within %v; goroutines:\n%s", what, timeout, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRepliesFromBothReceiversDoNotDeadlock builds the cycle that hung the blog appliance's
// shutdown through the user-mode network: both directions full, and each end's delivery
// goroutine transmitting a reply into the other's full queue from inside DeliverFrames
// (gVisor's reset for a segment to an unknown connection), so that each waits for the other to
// free a buffer. A wire would drop there; the pipe must too, after stallTimeout, and every
// frame must still arrive.
func TestRepliesFromBothReceiversDoNotDeadlock(t *testing.T) {
	const depth = 2
	a, b := newPair(t, &Config{QueueDepth: depth, BatchSize: 1})
	ra, rb := newReplier(a), newReplier(b)
	require.NoError(t, a.Start(ra))
	require.NoError(t, b.Start(rb))

	send := func(from, to *Link, seq uint32) {
		f := testFrame(from.MAC(), to.MAC(), seq, 60)
		n, err := from.Transmit([]link.Frame{{Segments: [][]byte{f}}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	// Each delivery goroutine takes a first frame and waits at its gate; then depth more
	// frames fill each direction's buffers.
	send(a, b, 0)
	send(b, a, 0)
	<-ra.entered
	<-rb.entered
	for i := 1; i <= depth; i++ {
		send(a, b, uint32(i))
		send(b, a, uint32(i))
	}
	start := time.Now()
	close(ra.gate)
	close(rb.gate)

	// Each end receives depth+1 frames and answers each; the answers that found the other
	// direction stuck are dropped and counted.
	const sent = depth + 1
	waitOrDump(t, 10*time.Second, "the replies end", func() bool {
		allA, repA := ra.received()
		allB, repB := rb.received()
		dropped := int(a.Stats().TxDropped + b.Stats().TxDropped)
		return allA-repA == sent && allB-repB == sent && repA+repB+dropped == 2*sent
	})
	t.Logf("unstuck after %v; replies delivered: %d of %d, dropped: %d",
		time.Since(start).Round(time.Millisecond), ra.replied.Load()+rb.replied.Load()-int64(a.Stats().TxDropped+b.Stats().TxDropped),
		2*sent, a.Stats().TxDropped+b.Stats().TxDropped)
	require.Positive(t, a.Stats().TxDropped+b.Stats().TxDropped, "the cycle was there to break")
	require.GreaterOrEqual(t, time.Since(start), stallTimeout, "dropped before the receiver was found stuck")
}

// TestHeldFramesAreWaitedFor: a receiver that returns from DeliverFrames and keeps its frames
// is not stuck, however long it keeps them: the transmitter waits, as the back-pressure
// contract says, and nothing is dropped.
func TestHeldFramesAreWaitedFor(t *testing.T) {
	a, b := newPair(t, &Config{QueueDepth: 4})
	hold := newRecorder(b)
	hold.Hold(math.MaxInt)
	require.NoError(t, b.Start(hold))
	frames := make([]link.Frame, 6)
	for i := range frames {
		frames[i] = link.Frame{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), uint32(i), 60)}}
	}
	done := make(chan int, 1)
	go func() {
		n, _ := a.Transmit(frames)
		done <- n
	}()
	hold.WaitFrames(t, 4)
	select {
	case <-done:
		t.Fatal("Transmit returned although the peer had no free buffer")
	case <-time.After(3 * stallTimeout):
	}
	require.Equal(t, 4, hold.ReleaseHeld())
	require.Equal(t, 6, <-done)
	hold.WaitFrames(t, 6)
	require.Zero(t, a.Stats().TxDropped)
}
