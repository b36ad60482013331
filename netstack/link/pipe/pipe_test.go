package pipe

import (
	"bytes"
	"encoding/binary"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// newRecorder returns a recorder that releases frames to l.
func newRecorder(l *Link) *linktest.Recorder { return linktest.NewRecorder(l, nil) }

// frameData returns the bytes of recorded frames.
func frameData(rs []linktest.Received) [][]byte {
	var b [][]byte
	for _, r := range rs {
		b = append(b, r.Data)
	}
	return b
}

// testFrame returns an Ethernet frame of n bytes (n >= 18) whose payload starts with seq.
func testFrame(src, dst []byte, seq uint32, n int) []byte {
	b := make([]byte, n)
	copy(b, dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], 0x88b5) // local experimental ethertype
	binary.BigEndian.PutUint32(b[14:], seq)
	for i := 18; i < n; i++ {
		b[i] = byte(seq) + byte(i)
	}
	return b
}

func seqOf(b []byte) uint32 { return binary.BigEndian.Uint32(b[14:]) }

func newPair(t testing.TB, cfg *Config) (a, b *Link) {
	t.Helper()
	a, b, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

func TestFramesArriveIntactInOrder(t *testing.T) {
	a, b := newPair(t, nil)
	ra, rb := newRecorder(a), newRecorder(b)
	require.NoError(t, a.Start(ra))
	require.NoError(t, b.Start(rb))
	require.True(t, a.Up())
	require.Equal(t, 1500, a.MTU())
	require.NotEqual(t, a.MAC(), b.MAC())
	require.Equal(t, byte(0x02), a.MAC()[0]&0x03, "locally administered unicast")

	const count = 2000
	var want [][]byte
	for i := 0; i < count; i += 10 {
		batch := make([]link.Frame, 10)
		for j := range batch {
			f := testFrame(a.MAC(), b.MAC(), uint32(i+j), 18+(i+j)%1497)
			want = append(want, f)
			// Split each frame in two segments to check they are joined.
			batch[j] = link.Frame{Segments: [][]byte{f[:7], f[7:]}}
		}
		n, err := a.Transmit(batch)
		require.NoError(t, err)
		require.Equal(t, len(batch), n)
	}
	got := frameData(rb.WaitFrames(t, count))
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, bytes.Equal(want[i], got[i]), "frame %d differs", i)
	}
	require.Less(t, rb.Batches(), count, "frames are delivered in batches")
	require.Zero(t, ra.Len(), "nothing comes back")

	// And the other way.
	f := testFrame(b.MAC(), a.MAC(), 7, 60)
	_, err := b.Transmit([]link.Frame{{Segments: [][]byte{f}}})
	require.NoError(t, err)
	require.True(t, bytes.Equal(f, ra.WaitFrames(t, 1)[0].Data))

	sa, sb := a.Stats(), b.Stats()
	require.Equal(t, uint64(count), sa.TxFrames)
	require.Equal(t, uint64(count), sb.RxFrames)
	require.Equal(t, uint64(1), sa.RxFrames)
	require.Equal(t, sa.TxBytes, sb.RxBytes)
	require.Zero(t, sa.TxDropped+sb.RxDropped)
}

func TestOffloadMetadataTravels(t *testing.T) {
	feat := link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6 |
		link.FeatureRxCsum | link.FeatureRxGRO
	a, b := newPair(t, &Config{Features: feat})
	require.Equal(t, feat, a.Features())
	rb := newRecorder(b)
	require.NoError(t, a.Start(newRecorder(a)))
	require.NoError(t, b.Start(rb))

	big := testFrame(a.MAC(), b.MAC(), 1, link.MaxGSOSize)
	off := link.Offload{Flags: link.FlagNeedsCsum, GSOType: link.GSOTCPv4,
		HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	_, err := a.Transmit([]link.Frame{{Segments: [][]byte{big}, Offload: off}})
	require.NoError(t, err)
	got := rb.WaitFrames(t, 1)[0]
	require.True(t, bytes.Equal(big, got.Data), "GSO frame differs")
	require.Equal(t, off, got.Offload)

	// A GSO frame larger than that, or a plain frame larger than the MTU, is refused.
	_, err = a.Transmit([]link.Frame{{Segments: [][]byte{big, {0}}, Offload: off}})
	require.ErrorIs(t, err, link.ErrFrameTooLarge)
	n, err := a.Transmit([]link.Frame{{Segments: [][]byte{big[:60]}}, {Segments: [][]byte{big[:1515]}}})
	require.ErrorIs(t, err, link.ErrFrameTooLarge)
	require.Equal(t, 1, n)
}

func TestNeedsCsumFinalizedWithoutRxCsum(t *testing.T) {
	a, b := newPair(t, &Config{Features: link.FeatureTxCsum})
	rb := newRecorder(b)
	require.NoError(t, b.Start(rb))

	f := testFrame(a.MAC(), b.MAC(), 9, 101)
	off := link.Offload{Flags: link.FlagNeedsCsum, CsumStart: 20, CsumOffset: 4}
	binary.BigEndian.PutUint16(f[24:], 0x1234) // "pseudo-header sum"
	_, err := a.Transmit([]link.Frame{{Segments: [][]byte{f}, Offload: off}})
	require.NoError(t, err)
	got := rb.WaitFrames(t, 1)[0]
	require.Equal(t, link.Offload{CsumStart: 20, CsumOffset: 4}, got.Offload, "flags cleared")
	sum := uint32(link.Checksum(got.Data[20:], 0)) + 0x1234 // with the pseudo-header
	sum = sum>>16 + sum&0xffff
	require.Equal(t, uint32(0xffff), sum, "checksum verifies")
	require.Equal(t, f[:24], got.Data[:24])
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{
		{MTU: 10},
		{MTU: 70000},
		{QueueDepth: -1},
		{BatchSize: -1},
		{Features: link.FeatureTxTSO4},
		{MACA: []byte{1, 2}},
		{Impair: Impairments{Loss: 1.5}},
		{Impair: Impairments{Delay: -1}},
	} {
		_, _, err := New(&c)
		require.ErrorIs(t, err, ErrBadConfig, "%+v", c)
	}
}

func TestTransmitBeforePeerStartIsDropped(t *testing.T) {
	a, b := newPair(t, nil)
	f := testFrame(a.MAC(), b.MAC(), 1, 60)
	n, err := a.Transmit([]link.Frame{{Segments: [][]byte{f}}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, uint64(1), b.Stats().RxDropped)
}

func TestBackPressure(t *testing.T) {
	a, b := newPair(t, &Config{QueueDepth: 4})
	// A receiver that keeps its frames until told to release them.
	hold := newRecorder(b)
	hold.Hold(math.MaxInt)
	require.NoError(t, b.Start(hold))

	frames := make([]link.Frame, 6)
	for i := range frames {
		frames[i] = link.Frame{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), uint32(i), 60)}}
	}
	done := make(chan int)
	go func() {
		n, err := a.Transmit(frames)
		require.NoError(t, err)
		done <- n
	}()
	hold.WaitFrames(t, 4)
	select {
	case <-done:
		t.Fatal("Transmit returned although the peer had no free buffer")
	case <-time.After(50 * time.Millisecond):
	}
	require.Equal(t, 4, hold.ReleaseHeld())
	require.Equal(t, 6, <-done)
	hold.WaitFrames(t, 6)
}

func TestReleaseIgnoresStrayFrames(t *testing.T) {
	a, b := newPair(t, &Config{QueueDepth: 2})
	hold := newRecorder(b)
	hold.Hold(1)
	require.NoError(t, b.Start(hold))
	f := link.Frame{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), 0, 60)}}
	_, err := a.Transmit([]link.Frame{f})
	require.NoError(t, err)
	hold.WaitFrames(t, 1)
	kept := hold.Held()
	a.Release(kept)                                           // wrong end
	b.Release([]link.Frame{{Cookie: 1<<63 | 5}, {Cookie: 7}}) // garbage
	hold.ReleaseHeld()
	b.Release(kept) // twice
	b.rx.mu.Lock()
	require.Len(t, b.rx.free, 2, "each buffer is free exactly once")
	b.rx.mu.Unlock()
}

func TestCloseIdempotentNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		a, b, err := New(&Config{QueueDepth: 2, Impair: Impairments{Delay: time.Millisecond}})
		require.NoError(t, err)
		ra, rb := newRecorder(a), newRecorder(b)
		rb.Hold(math.MaxInt)
		require.NoError(t, a.Start(ra))
		require.NoError(t, b.Start(rb))
		// A transmitter blocked on the peer's full queue is woken by Close.
		blocked := make(chan error)
		go func() {
			fs := make([]link.Frame, 5)
			for j := range fs {
				fs[j] = link.Frame{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), 0, 60)}}
			}
			_, err := a.Transmit(fs)
			blocked <- err
		}()
		time.Sleep(5 * time.Millisecond)
		if i%2 == 0 {
			require.NoError(t, a.Close())
			require.ErrorIs(t, <-blocked, link.ErrClosed)
			require.False(t, b.Up())
			require.Empty(t, ra.States(), "the closed end's own receiver is not told")
		} else {
			require.NoError(t, b.Close())
			require.ErrorIs(t, <-blocked, link.ErrLinkDown)
			require.False(t, a.Up())
			require.Equal(t, []bool{false}, ra.States())
		}
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		require.NoError(t, a.Close())
		_, err = a.Transmit([]link.Frame{{Segments: [][]byte{make([]byte, 60)}}})
		require.ErrorIs(t, err, link.ErrClosed)
		require.ErrorIs(t, a.Start(ra), link.ErrClosed)
		rb.ReleaseHeld() // release after close is harmless
	}
	// Unstarted links close too.
	a, b, err := New(nil)
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())

	leaktest.Settle(t, before)
}

func TestTransmitAfterPeerCloseIsLinkDown(t *testing.T) {
	a, b := newPair(t, nil)
	require.NoError(t, a.Start(newRecorder(a)))
	require.NoError(t, b.Close())
	_, err := a.Transmit([]link.Frame{{Segments: [][]byte{make([]byte, 60)}}})
	require.ErrorIs(t, err, link.ErrLinkDown)
}

func TestNoAllocsSteadyState(t *testing.T) {
	a, b := newPair(t, nil)
	rb := linktest.NewCounter(b, nil)
	require.NoError(t, b.Start(rb))
	frames := make([]link.Frame, 16)
	for i := range frames {
		frames[i] = link.Frame{Segments: [][]byte{testFrame(a.MAC(), b.MAC(), uint32(i), 1514)}}
	}
	send := func() {
		_, err := a.Transmit(frames)
		if err != nil {
			panic(err)
		}
		if err := rb.Wait(len(frames)); err != nil {
			panic(err)
		}
	}
	for i := 0; i < 20; i++ { // warm up: buffers are allocated on first use
		send()
	}
	r := allocs.Measure(200, 0, send).Per(len(frames), "frames")
	require.Zero(t, r.Mallocs, "%v", r)
}
