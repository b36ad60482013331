package linktest

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/netstack/link"
)

// The lifecycle subtests: Start, Close and what the links report about themselves.

// properties checks what a link reports before and after Start: a unicast 6-byte MAC, a
// plausible MTU, and features that are consistent and constant.
func (s *suite) properties(t *testing.T) {
	p := s.pair(t)
	type props struct {
		mac      string
		mtu      int
		features link.Features
	}
	before := map[link.Link]props{}
	for _, l := range p.links() {
		mac := l.MAC()
		require.Len(t, mac, 6, "MAC")
		require.Zero(t, mac[0]&1, "MAC %v is a multicast address", mac)
		require.GreaterOrEqual(t, l.MTU(), 68, "MTU (RFC 791's minimum)")
		require.LessOrEqual(t, l.MTU()+link.EthernetHeaderLen, link.MaxGSOSize, "MTU")
		f := l.Features()
		if f.Has(link.FeatureTxTSO4) || f.Has(link.FeatureTxTSO6) {
			require.True(t, f.Has(link.FeatureTxCsum), "TSO implies FeatureTxCsum (features %#x)", f)
		}
		before[l] = props{mac.String(), l.MTU(), f}
	}
	s.start(t, p, nil)
	for _, l := range p.links() {
		require.Equal(t, before[l], props{l.MAC().String(), l.MTU(), l.Features()}, "MAC, MTU and features change at Start")
	}
}

// startNilReceiver checks that Start refuses a nil receiver, and that the refusal does not
// count as a start.
func (s *suite) startNilReceiver(t *testing.T) {
	p := s.pair(t)
	for _, l := range p.links() {
		require.ErrorIs(t, l.Start(nil), link.ErrNilReceiver)
	}
	s.start(t, p, nil)
}

// startTwice checks that a second Start fails with ErrStarted and that the second receiver
// is never used.
func (s *suite) startTwice(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, nil)
	second := map[link.Link]*Recorder{}
	for _, l := range p.links() {
		r := NewRecorder(l, nil)
		second[l] = r
		require.ErrorIs(t, l.Start(r), link.ErrStarted)
	}
	f := p.frame(1, MinNumberedFrameLen+10)
	require.NoError(t, transmitAll(p.tx, p.rec, []link.Frame{{Segments: [][]byte{f}}}))
	p.rec.WaitFrames(t, 1)
	for _, r := range second {
		require.Zero(t, r.Batches(), "the receiver of the refused Start got frames")
		require.Empty(t, r.States(), "the receiver of the refused Start heard of link-state changes")
	}
}

// startAfterClose checks that a link closed before it was started cannot be started.
func (s *suite) startAfterClose(t *testing.T) {
	p := s.pair(t)
	for _, l := range p.links() {
		require.NoError(t, l.Close())
		r := NewRecorder(l, nil)
		require.ErrorIs(t, l.Start(r), link.ErrClosed)
		require.Zero(t, r.Batches())
	}
}

// closeIdempotent checks that Close can be called twice, on started links that carried
// traffic both ways and on links never started, and that no goroutine the links started is
// left once both are closed. Goroutines are counted from when newPair returns, so that a
// simulated peer newPair starts for the links does not count.
func (s *suite) closeIdempotent(t *testing.T) {
	p := s.pair(t)
	before := runtime.NumGoroutine()
	s.start(t, p, nil)
	f := p.frame(1, MinNumberedFrameLen)
	require.NoError(t, transmitAll(p.tx, p.rec, []link.Frame{{Segments: [][]byte{f}}}))
	p.rec.WaitFrames(t, 1)
	if !p.loopback {
		back := NumberedFrame(p.b.MAC(), p.a.MAC(), 2, MinNumberedFrameLen)
		require.NoError(t, transmitAll(p.b, p.ra, []link.Frame{{Segments: [][]byte{back}}}))
		p.ra.WaitFrames(t, 1)
	}
	for _, l := range p.links() {
		require.NoError(t, l.Close())
		require.NoError(t, l.Close(), "a second Close")
		require.False(t, l.Up(), "Up after Close")
	}
	p.ra.Drain()
	p.rec.Drain()
	leaktest.Settle(t, before)

	// Links that never started close as well.
	q := s.pair(t)
	before = runtime.NumGoroutine()
	for _, l := range q.links() {
		require.NoError(t, l.Close())
		require.NoError(t, l.Close(), "a second Close")
		require.False(t, l.Up(), "Up after Close")
	}
	leaktest.Settle(t, before)
}

// transmitAfterClose checks that Transmit refuses frames with ErrClosed once the link is
// closed.
func (s *suite) transmitAfterClose(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, nil)
	require.NoError(t, p.tx.Close())
	f := p.frame(1, MinNumberedFrameLen)
	n, err := p.tx.Transmit([]link.Frame{{Segments: [][]byte{f}}})
	require.ErrorIs(t, err, link.ErrClosed)
	require.Zero(t, n, "frames taken after Close")
	require.False(t, p.tx.Up(), "Up after Close")
	require.Zero(t, p.tx.Stats().TxFrames, "frames counted as sent after Close")
}
