package linktest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

// The back-pressure subtests: a receiver that stops taking frames must never make the links
// queue without bound.

// stallPoll and stallPolls decide when a transmitter has stopped making progress: no frame
// taken over stallPolls polls stallPoll apart. Deciding too early on a loaded machine only
// makes the check less strict, never wrong: the bound is checked on every frame.
const (
	stallPoll  = 20 * time.Millisecond
	stallPolls = 5
)

// transmitter sends numbered frames through a link one at a time from a goroutine of its own
// and counts what the link took.
type transmitter struct {
	taken   atomic.Int64
	full    atomic.Bool   // Transmit returned ErrQueueFull
	done    chan struct{} // closed when the goroutine has ended
	err     error         // why it ended, once done is closed
	unblock chan struct{} // closed once the receiver takes frames again
}

// startTransmitter transmits count frames of n bytes from tx, numbered from 0. each is called
// after every frame taken and ends the goroutine with its error.
func startTransmitter(p *pair, count, n int, queueFull bool, each func(taken int64) error) *transmitter {
	tr := &transmitter{done: make(chan struct{}), unblock: make(chan struct{})}
	go func() {
		defer close(tr.done)
		frame := make([]link.Frame, 1)
		for i := 0; i < count; {
			frame[0] = link.Frame{Segments: [][]byte{p.frame(uint32(i), n)}}
			took, err := p.tx.Transmit(frame)
			if took == 1 {
				i++
				if err := each(tr.taken.Add(1)); err != nil {
					tr.err = err
					return
				}
			}
			switch {
			case err == nil:
			case queueFull && errors.Is(err, link.ErrQueueFull):
				tr.full.Store(true)
				select {
				case <-tr.unblock:
					p.rec.waitChange(time.Millisecond)
				case <-time.After(DefaultTimeout):
					tr.err = errors.New("linktest: the receiver was never unblocked")
					return
				}
			default:
				tr.err = err
				return
			}
		}
	}()
	return tr
}

// waitStall returns once the transmitter has ended, met ErrQueueFull or taken no frame for a
// while; it reports whether it had ended.
func (tr *transmitter) waitStall() bool {
	last, still := tr.taken.Load(), 0
	tick := time.NewTicker(stallPoll)
	defer tick.Stop()
	deadline := time.After(DefaultTimeout)
	for {
		select {
		case <-tr.done:
			return true
		case <-deadline:
			return false
		case <-tick.C:
		}
		if tr.full.Load() {
			return false
		}
		if n := tr.taken.Load(); n != last {
			last, still = n, 0
		} else if still++; still >= stallPolls {
			return false
		}
	}
}

// wait waits for the transmitter to end and returns its error.
func (tr *transmitter) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-tr.done:
		return tr.err
	case <-time.After(DefaultTimeout):
		t.Fatalf("linktest: Transmit did not return within %v", DefaultTimeout)
		return nil
	}
}

// backPressure stalls the receiver, transmits twice as many frames as the pair may hold and
// checks the bound the link documents: with BackPressureBlock and BackPressureQueueFull
// Transmit never takes more than InFlight frames the receiver has not given back, and every
// frame arrives once the receiver goes on; with BackPressureDrop no more than InFlight
// frames arrive.
func (s *suite) backPressure(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, nil)
	p.rec.Block()
	inFlight := s.opts.InFlight
	count := 2*inFlight + 64
	n := p.mtuFrameLen()
	mode := s.opts.BackPressure
	tr := startTransmitter(p, count, n, mode == BackPressureQueueFull, func(taken int64) error {
		if mode == BackPressureDrop {
			return nil
		}
		if pending := taken - int64(p.rec.Released()); pending > int64(inFlight) {
			return fmt.Errorf("linktest: Transmit took %d frames the stalled receiver had not released, more than Options.InFlight = %d", pending, inFlight)
		}
		return nil
	})
	var ended bool
	if mode == BackPressureDrop {
		// Every frame of the burst must meet the stalled receiver: wait for the end of the
		// burst, which never blocks on such a link.
		select {
		case <-tr.done:
			ended = true
		case <-time.After(DefaultTimeout):
			p.rec.Unblock()
			close(tr.unblock)
			t.Fatalf("linktest: Transmit blocked after %d frames (Options.BackPressure is BackPressureDrop)", tr.taken.Load())
		}
	} else {
		ended = tr.waitStall()
		if mode == BackPressureBlock && !ended {
			p.rec.WaitBlocked(t) // the stall is the receiver's doing
		}
	}
	t.Logf("Transmit took %d frames of %d bytes while the receiver stalled (ended %v; Options.InFlight %d)",
		tr.taken.Load(), n, ended, inFlight)
	p.rec.Unblock()
	close(tr.unblock)
	require.NoError(t, tr.wait(t))

	if mode != BackPressureDrop {
		want := make(map[uint32][]byte, count)
		for i := range count {
			want[uint32(i)] = p.frame(uint32(i), n)
		}
		checkNumbered(t, p.rx, p.rec, want)
		return
	}
	// Frames dropped between the links cannot be waited for: send markers after the burst
	// until one arrives, and count what arrived before it.
	marker := uint32(count)
	var txErr error
	require.Eventually(t, func() bool {
		for _, r := range p.rec.Frames() {
			if id, ok := FrameNumber(r.Data); ok && id >= uint32(count) {
				return true
			}
		}
		if txErr != nil {
			return true // fails below
		}
		f := p.frame(marker, n)
		marker++
		_, txErr = p.tx.Transmit([]link.Frame{{Segments: [][]byte{f}}})
		return false
	}, DefaultTimeout, 20*time.Millisecond, "no frame arrives after the receiver stalled")
	require.NoError(t, txErr, "Transmit after the receiver went on")
	arrived := 0
	for _, r := range p.rec.Frames() {
		id, ok := FrameNumber(r.Data)
		if ok && id < uint32(count) {
			require.Equal(t, p.frame(id, n), r.Data, "frame %d arrived changed", id)
			arrived++
		}
	}
	t.Logf("%d frames of the burst arrived", arrived)
	require.Positive(t, arrived, "no frame of the burst arrived")
	require.LessOrEqual(t, arrived, inFlight, "frames of the burst delivered after the receiver stalled: more than Options.InFlight")
}

// closeWakesTransmit stalls the receiver until Transmit blocks, then closes the transmitting
// link: the blocked Transmit must return ErrClosed.
func (s *suite) closeWakesTransmit(t *testing.T) {
	if s.opts.BackPressure != BackPressureBlock {
		t.Skip("Transmit does not block (Options.BackPressure)")
	}
	p := s.pair(t)
	if p.loopback {
		t.Skip("closing a loopback link waits for its own stalled receiver")
	}
	s.start(t, p, nil)
	p.rec.Block()
	count := 2*s.opts.InFlight + 64
	tr := startTransmitter(p, count, p.mtuFrameLen(), false, func(int64) error { return nil })
	require.False(t, tr.waitStall(), "Transmit took %d frames without blocking", count)
	p.rec.WaitBlocked(t)
	require.NoError(t, p.tx.Close())
	require.ErrorIs(t, tr.wait(t), link.ErrClosed, "the Transmit blocked when the link closed")
}
