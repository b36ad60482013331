package linktest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

// BackPressure is what a link's Transmit does while the receiver on the far side takes no
// frames, as the link's documentation says.
type BackPressure int

const (
	// BackPressureBlock: Transmit blocks until there is room (the default).
	BackPressureBlock BackPressure = iota
	// BackPressureQueueFull: Transmit returns the frames it took with [link.ErrQueueFull].
	BackPressureQueueFull
	// BackPressureDrop: Transmit goes on taking frames and a bounded queue between the two
	// links drops what does not fit, as the kernel does between two TAP devices.
	BackPressureDrop
)

// DefaultInFlight is [Options.InFlight] when it is zero.
const DefaultInFlight = 1024

// Options describe the links under test where the contract leaves a choice to each link's
// documentation. A nil *Options, like the zero value, means: frames longer than MTU+14 are
// refused with [link.ErrFrameTooLarge], Transmit blocks when the peer's receiver stalls, at
// most [DefaultInFlight] frames are in flight between the links, and DeliverFrames is never
// called concurrently.
type Options struct {
	// MaxFrameLen is the longest frame without GSO, Ethernet header included, that a's
	// Transmit takes. Zero means a.MTU()+14.
	MaxFrameLen int

	// DropsOversize says that Transmit takes a frame longer than MaxFrameLen (or a GSO frame
	// longer than [link.MaxGSOSize]), drops it and counts it in TxDropped, instead of
	// returning [link.ErrFrameTooLarge] with the number of frames before it.
	DropsOversize bool

	// BackPressure is what a's Transmit does while b's receiver takes no frames.
	BackPressure BackPressure

	// InFlight bounds the frames a's Transmit has taken that b's receiver has not given back
	// yet: both links' buffers and any queue between them, in frames of MTU+14 bytes. The
	// suite transmits twice as many to a stalled receiver and checks that no more are taken
	// (BackPressureBlock, BackPressureQueueFull) or delivered (BackPressureDrop). Zero means
	// [DefaultInFlight].
	InFlight int

	// ConcurrentDelivery says that the links may call DeliverFrames from several goroutines
	// at once, as a link with several receive queues may document.
	ConcurrentDelivery bool
}

// NewPair returns two new links joined so that what a transmits, b receives, and what b
// transmits, a receives. Neither is started; the suite starts and closes them. A nil b means
// that a's peer sends every frame a transmits back to a (a loopback device, or a back end in
// loopback mode); the suite then checks a against itself. Resources the pair needs beyond the
// links (a namespace, a socket file) are released through t.Cleanup: the suite closes the
// links before those cleanups run.
type NewPair func(t *testing.T) (a, b link.Link)

// Run runs the conformance suite of the frame contract documented on [link.Link] over the
// links newPair returns, one new pair per subtest. A nil opts means the defaults.
func Run(t *testing.T, newPair NewPair, opts *Options) {
	s := &suite{newPair: newPair}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.InFlight <= 0 {
		s.opts.InFlight = DefaultInFlight
	}
	for _, st := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"Properties", s.properties},
		{"StartNilReceiver", s.startNilReceiver},
		{"StartTwice", s.startTwice},
		{"StartAfterClose", s.startAfterClose},
		{"CloseIdempotentNoGoroutineLeft", s.closeIdempotent},
		{"TransmitAfterClose", s.transmitAfterClose},
		{"FramesArriveIntact", s.framesIntact},
		{"Counters", s.counters},
		{"Oversize", s.oversize},
		{"ReleaseExactlyOnceFromAnyGoroutine", s.release},
		{"ConcurrentTransmit", s.concurrentTransmit},
		{"ChecksumOffload", s.checksumOffload},
		{"TSOv4", func(t *testing.T) { s.tso(t, false) }},
		{"TSOv6", func(t *testing.T) { s.tso(t, true) }},
		{"BackPressure", s.backPressure},
		{"CloseWakesBlockedTransmit", s.closeWakesTransmit},
	} {
		t.Run(st.name, st.run)
	}
}

// suite is one Run.
type suite struct {
	newPair NewPair
	opts    Options
}

// pair is a pair of links under test. tx transmits and rx receives what it sends: a and b, or
// a twice in loopback mode.
type pair struct {
	a, b   link.Link
	tx, rx link.Link
	// ra and rb are the recorders of a and b once started (rb is nil in loopback mode); rec
	// is rx's.
	ra, rb, rec *Recorder
	loopback    bool
	startMu     *sync.Mutex // guards ra and rb, which the watchdog reads
}

// subtestTimeout bounds a subtest: after it the suite closes the links, which wakes a
// Transmit blocked for good.
const subtestTimeout = 4 * DefaultTimeout

// links returns the pair's distinct links.
func (p *pair) links() []link.Link {
	if p.loopback {
		return []link.Link{p.a}
	}
	return []link.Link{p.a, p.b}
}

// pair makes a new pair and registers its end: the recorders are unblocked, then the links
// closed, then every recorder is checked for contract violations.
func (s *suite) pair(t *testing.T) *pair {
	t.Helper()
	a, b := s.newPair(t)
	require.NotNil(t, a, "newPair returned no link")
	p := &pair{a: a, b: b, tx: a, rx: b, loopback: b == nil}
	if p.loopback {
		p.rx = a
	}
	var mu sync.Mutex // orders the watchdog's use of the recorders against start
	p.startMu = &mu
	stop := func() {
		mu.Lock()
		for _, r := range []*Recorder{p.ra, p.rb} {
			if r != nil {
				r.Unblock()
			}
		}
		mu.Unlock()
		for _, l := range p.links() {
			l.Close()
		}
	}
	// A Transmit that blocks for good would otherwise hang the test binary until its
	// timeout; closing the links wakes it.
	watchdog := time.AfterFunc(subtestTimeout, func() {
		t.Errorf("linktest: the subtest still runs after %v: closing the links", subtestTimeout)
		stop()
	})
	t.Cleanup(func() {
		watchdog.Stop()
		stop()
		for _, r := range []*Recorder{p.ra, p.rb} {
			if r != nil {
				r.Drain()
				assert.Empty(t, r.Problems(), "the link broke the receive contract")
			}
		}
	})
	return p
}

// start starts the pair's links with recorders of suite frames (rx's made with cfg, nil
// meaning the defaults) and waits until both are up.
func (s *suite) start(t *testing.T, p *pair, cfg *RecorderConfig) {
	t.Helper()
	var c RecorderConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Filter == nil {
		c.Filter = isSuiteFrame
	}
	rec := NewRecorder(p.rx, &c)
	ra := rec
	if !p.loopback {
		ra = NewRecorder(p.a, &RecorderConfig{Filter: isSuiteFrame})
	}
	if s.opts.ConcurrentDelivery {
		rec.AllowConcurrentDelivery()
		ra.AllowConcurrentDelivery()
	}
	p.startMu.Lock()
	p.rec, p.ra = rec, ra
	if !p.loopback {
		p.rb = rec
	}
	p.startMu.Unlock()
	if !p.loopback {
		require.NoError(t, p.b.Start(p.rb))
	}
	require.NoError(t, p.a.Start(p.ra))
	for _, l := range p.links() {
		require.Eventually(t, l.Up, DefaultTimeout, time.Millisecond, "the link does not come up after Start")
	}
}

// maxFrameLen is the longest frame without GSO that tx takes.
func (s *suite) maxFrameLen(p *pair) int {
	if s.opts.MaxFrameLen > 0 {
		return s.opts.MaxFrameLen
	}
	return p.tx.MTU() + link.EthernetHeaderLen
}

// mtuFrameLen is the longest frame without GSO that both links carry: MTU+14 of the smaller
// MTU.
func (p *pair) mtuFrameLen() int {
	return min(p.tx.MTU(), p.rx.MTU()) + link.EthernetHeaderLen
}

// frame returns the numbered suite frame id of n bytes from tx to rx.
func (p *pair) frame(id uint32, n int) []byte {
	return NumberedFrame(p.tx.MAC(), p.rx.MAC(), id, n)
}

// transmitAll transmits every frame of frames through l, going on after ErrQueueFull once
// the receiver has made progress. It returns the first other error.
func transmitAll(l link.Link, rec *Recorder, frames []link.Frame) error {
	for len(frames) > 0 {
		n, err := l.Transmit(frames)
		frames = frames[n:]
		switch {
		case err == nil:
			if n == 0 && len(frames) > 0 {
				return errors.New("linktest: Transmit took no frame and returned no error")
			}
		case errors.Is(err, link.ErrQueueFull):
			rec.waitChange(time.Millisecond)
		default:
			return err
		}
	}
	return nil
}
