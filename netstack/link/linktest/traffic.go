package linktest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
)

// The traffic subtests: frames without offloads, counters, limits, buffer ownership and
// concurrency.

// checkNumbered waits until every numbered frame of want (id to bytes) has arrived at rec and
// checks that each arrived exactly once, unchanged, with metadata a frame without offloads
// may carry on rx.
func checkNumbered(t *testing.T, rx link.Link, rec *Recorder, want map[uint32][]byte) {
	t.Helper()
	n, scanned := 0, 0 // the recorded frames only grow: look at each once
	frames := rec.WaitFor(t, fmt.Sprintf("%d numbered frames", len(want)), func(fs []Received) bool {
		for _, r := range fs[scanned:] {
			if id, ok := FrameNumber(r.Data); ok && want[id] != nil {
				n++
			}
		}
		scanned = len(fs)
		return n >= len(want)
	})
	seen := make(map[uint32]bool, len(want))
	for _, r := range frames {
		id, ok := FrameNumber(r.Data)
		if !ok || want[id] == nil {
			continue
		}
		require.False(t, seen[id], "frame %d arrived twice", id)
		seen[id] = true
		require.True(t, bytes.Equal(want[id], r.Data), "frame %d (%d bytes) arrived changed (%d bytes)", id, len(want[id]), len(r.Data))
		checkPlainOffload(t, rx, r.Offload)
	}
}

// checkPlainOffload checks the metadata of a frame that was sent without offloads: no GSO,
// no pending checksum, and FlagDataValid only on a link that claims FeatureRxCsum.
func checkPlainOffload(t *testing.T, rx link.Link, o link.Offload) {
	t.Helper()
	require.Equal(t, link.GSONone, o.GSOType, "a frame sent without GSO arrived as a GSO frame")
	require.Zero(t, o.Flags&^link.FlagDataValid, "a frame sent with complete checksums arrived with flags %#x", o.Flags)
	if o.Flags != 0 {
		require.True(t, rx.Features().Has(link.FeatureRxCsum), "FlagDataValid from a link without FeatureRxCsum")
	}
}

// segmented returns f cut into segments by layout: 0 one segment, 1 the Ethernet header in two
// pieces and the rest, 2 with an empty segment, 3 segments of 100 bytes.
func segmented(f []byte, layout int) [][]byte {
	switch layout {
	case 1:
		return [][]byte{f[:6], f[6:link.EthernetHeaderLen], f[link.EthernetHeaderLen:]}
	case 2:
		return [][]byte{f[:1], {}, f[1:]}
	case 3:
		var segs [][]byte
		for len(f) > 100 {
			segs = append(segs, f[:100])
			f = f[100:]
		}
		return append(segs, f)
	}
	return [][]byte{f}
}

// framesIntact sends frames from the shortest to MTU+14 bytes, whole and in segments, alone
// and in batches, and checks that each arrives once and unchanged, although the sender
// overwrites its buffers as soon as Transmit returns.
func (s *suite) framesIntact(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, nil)
	maxLen := p.mtuFrameLen()
	var sizes []int
	for _, n := range []int{MinNumberedFrameLen, 60, 61, 64, 100, 511, 1000, maxLen - 1, maxLen} {
		if n <= maxLen && !slices.Contains(sizes, n) {
			sizes = append(sizes, n)
		}
	}
	want := map[uint32][]byte{}
	id := uint32(0)
	for layout := range 4 {
		var batch []link.Frame
		for _, n := range sizes {
			id++
			f := p.frame(id, n)
			want[id] = append([]byte(nil), f...)
			batch = append(batch, link.Frame{Segments: segmented(f, layout)})
		}
		if layout%2 == 0 {
			require.NoError(t, transmitAll(p.tx, p.rec, batch), "layout %d", layout)
		} else {
			for i := range batch {
				require.NoError(t, transmitAll(p.tx, p.rec, batch[i:i+1]), "layout %d", layout)
			}
		}
		// Transmit borrows frames: it must not have changed them, and nothing may read them
		// once it returned.
		for i := range batch {
			f := join(batch[i].Segments)
			fid, _ := FrameNumber(f)
			require.Equal(t, want[fid], f, "Transmit changed frame %d", fid)
			for _, seg := range batch[i].Segments {
				for j := range seg {
					seg[j] = 0xa5
				}
			}
		}
	}
	checkNumbered(t, p.rx, p.rec, want)
	if !p.loopback {
		require.Zero(t, p.ra.Len(), "frames a transmitted came back to a")
	}
}

// counters checks that TxFrames and TxBytes count what Transmit took and RxFrames and RxBytes
// what was delivered, and that a clean exchange counts no drop or error.
func (s *suite) counters(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, nil)
	maxLen := p.mtuFrameLen()
	const count = 50
	want := map[uint32][]byte{}
	var batch []link.Frame
	sent := 0
	for i := range count {
		n := MinNumberedFrameLen + i*97%(maxLen-MinNumberedFrameLen+1)
		f := p.frame(uint32(i+1), n)
		want[uint32(i+1)] = f
		sent += n
		batch = append(batch, link.Frame{Segments: segmented(f, i%2)})
		if len(batch) == 7 || i == count-1 {
			require.NoError(t, transmitAll(p.tx, p.rec, batch))
			batch = nil
		}
	}
	checkNumbered(t, p.rx, p.rec, want)
	require.Eventually(t, func() bool {
		st := p.tx.Stats()
		return st.TxFrames == count && st.TxBytes == uint64(sent)
	}, DefaultTimeout, time.Millisecond, "TxFrames and TxBytes: want %d frames of %d bytes", count, sent)
	require.Eventually(t, func() bool {
		st := p.rx.Stats()
		frames, bytes := p.rec.Totals()
		return st.RxFrames == frames && st.RxBytes == bytes
	}, DefaultTimeout, time.Millisecond, "RxFrames and RxBytes count what was delivered")
	tx, rx := p.tx.Stats(), p.rx.Stats()
	require.Zero(t, tx.TxDropped, "TxDropped")
	require.Zero(t, tx.TxErrors, "TxErrors")
	require.Zero(t, rx.RxDropped, "RxDropped")
	require.Zero(t, rx.RxErrors, "RxErrors")
}

// oversize sends a frame one byte longer than the link takes between two good frames, and a
// GSO frame longer than link.MaxGSOSize on a link with TSO, and checks that each is refused
// with ErrFrameTooLarge or dropped and counted, as the link documents, and never delivered.
func (s *suite) oversize(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, nil)
	good1, good2 := p.frame(1, 100), p.frame(3, 200)
	n := s.maxFrameLen(p) + 1
	var big []byte
	if n <= MaxNumberedFrameLen {
		big = p.frame(2, n)
	} else {
		big = make([]byte, n) // too long for an IPv4 packet; recognised by its length
	}
	frames := []link.Frame{{Segments: [][]byte{good1}}, {Segments: [][]byte{big}}, {Segments: [][]byte{good2}}}
	took, err := p.tx.Transmit(frames)
	if s.opts.DropsOversize {
		require.NoError(t, err, "an oversize frame is dropped, not refused (Options.DropsOversize)")
		require.Equal(t, 3, took)
	} else {
		require.ErrorIs(t, err, link.ErrFrameTooLarge, "a %d-byte frame, longer than %d", n, n-1)
		require.Equal(t, 1, took, "frames taken before the oversize one")
		require.NoError(t, transmitAll(p.tx, p.rec, frames[2:]))
	}
	checkNumbered(t, p.rx, p.rec, map[uint32][]byte{1: good1, 3: good2})
	drops := uint64(1)

	if f := p.tx.Features(); f.Has(link.FeatureTxTSO4) {
		// The longest TSO frame an IPv4 header can describe, and two bytes more.
		pk := Packet{SrcMAC: p.tx.MAC(), DstMAC: p.rx.MAC(), TCP: true, SrcPort: SuitePort, DstPort: 9}
		pk.Payload = make([]byte, 0xffff-ipv4HeaderLen-TCPHeaderLen)
		gso, off := pk.TSOFrame(1000)
		gso = append(gso, 0, 0)
		require.Greater(t, len(gso), link.MaxGSOSize)
		took, err := p.tx.Transmit([]link.Frame{{Segments: [][]byte{gso}, Offload: off}})
		if s.opts.DropsOversize {
			require.NoError(t, err)
			require.Equal(t, 1, took)
			drops++
		} else {
			require.ErrorIs(t, err, link.ErrFrameTooLarge, "a GSO frame of %d bytes", len(gso))
			require.Zero(t, took)
		}
	}
	// A frame sent after the refused ones shows that they were not delivered before it.
	last := p.frame(4, 300)
	require.NoError(t, transmitAll(p.tx, p.rec, []link.Frame{{Segments: [][]byte{last}}}))
	checkNumbered(t, p.rx, p.rec, map[uint32][]byte{4: last})
	for _, r := range p.rec.Frames() {
		require.LessOrEqual(t, len(r.Data), n-1, "an oversize frame was delivered")
		if id, ok := FrameNumber(r.Data); ok {
			require.NotEqual(t, uint32(2), id, "the oversize frame was delivered")
		}
	}
	require.Eventually(t, func() bool {
		st := p.tx.Stats()
		return st.TxFrames == 3 && st.TxBytes == uint64(len(good1)+len(good2)+len(last))
	}, DefaultTimeout, time.Millisecond, "only the good frames count as sent: %+v", p.tx.Stats())
	if s.opts.DropsOversize {
		require.Equal(t, drops, p.tx.Stats().TxDropped, "dropped oversize frames count in TxDropped")
	}
}

// release has the receiver release frames from other goroutines, after DeliverFrames
// returned, and keep some lent for the whole test, while many more frames than any link has
// buffers pass: the link must reuse released buffers, never touch lent ones, and accept
// releases after Close.
func (s *suite) release(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, &RecorderConfig{AsyncRelease: true})
	const total, batch = 2048, 16
	held := max(1, min(8, s.opts.InFlight/2)) // keep the link enough buffers to go on
	p.rec.Hold(held)
	// Keep fewer frames outstanding than the pair holds, so that a link whose peer drops
	// frames when it is full (BackPressureDrop) loses none.
	window := max(batch, min(s.opts.InFlight/2, 256))
	want := make(map[uint32][]byte, total)
	for sent := 0; sent < total; sent += batch {
		if need := sent + batch - window; need > 0 {
			p.rec.WaitFor(t, fmt.Sprintf("%d frames", need), func(fs []Received) bool { return len(fs) >= need })
		}
		frames := make([]link.Frame, batch)
		for i := range frames {
			id := uint32(sent + i + 1)
			f := p.frame(id, MinNumberedFrameLen+int(id%150))
			want[id] = f
			frames[i] = link.Frame{Segments: [][]byte{f}}
		}
		require.NoError(t, transmitAll(p.tx, p.rec, frames))
	}
	checkNumbered(t, p.rx, p.rec, want)
	require.Equal(t, held, p.rec.ReleaseHeld(), "frames held")
	p.rec.Drain()
	p.rec.Check(t)

	// Frames still lent when the links close are released afterwards.
	p.rec.Hold(held)
	more := map[uint32][]byte{}
	for id := uint32(total + 1); id <= uint32(total+held); id++ {
		more[id] = p.frame(id, 100)
		require.NoError(t, transmitAll(p.tx, p.rec, []link.Frame{{Segments: [][]byte{more[id]}}}))
	}
	checkNumbered(t, p.rx, p.rec, more)
	for _, l := range p.links() {
		require.NoError(t, l.Close())
	}
	require.Equal(t, held, p.rec.ReleaseHeld(), "frames held over Close")
	p.rec.Drain()
	p.rec.Check(t)
}

// concurrentTransmit transmits from several goroutines at once and checks that every frame
// arrives exactly once and intact.
func (s *suite) concurrentTransmit(t *testing.T) {
	p := s.pair(t)
	s.start(t, p, nil)
	const goroutines = 4
	perGoroutine := 200
	if testing.Short() {
		perGoroutine = 50
	}
	if s.opts.BackPressure == BackPressureDrop {
		// Nothing waits for the receiver here: stay within what the pair holds.
		perGoroutine = max(1, min(perGoroutine, s.opts.InFlight/2/goroutines))
	}
	maxLen := p.mtuFrameLen()
	frameOf := func(g, i int) (uint32, []byte) {
		id := uint32(g<<16 | i)
		return id, p.frame(id, MinNumberedFrameLen+int(id*53)%(maxLen-MinNumberedFrameLen+1))
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perGoroutine; {
				k := min(1+i%8, perGoroutine-i)
				batch := make([]link.Frame, k)
				for j := range batch {
					_, f := frameOf(g, i+j)
					batch[j] = link.Frame{Segments: segmented(f, j%3)}
				}
				if err := transmitAll(p.tx, p.rec, batch); err != nil {
					errs <- err
					return
				}
				i += k
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	want := map[uint32][]byte{}
	for g := range goroutines {
		for i := range perGoroutine {
			id, f := frameOf(g, i)
			want[id] = f
		}
	}
	checkNumbered(t, p.rx, p.rec, want)
	require.Eventually(t, func() bool { return p.tx.Stats().TxFrames == uint64(len(want)) }, DefaultTimeout, time.Millisecond,
		"TxFrames: want %d", len(want))
}
