package virtio_test

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// waitTimeout bounds the waits of these tests that no Recorder makes.
const waitTimeout = linktest.DefaultTimeout

// newLoopback returns a loopback driver whose device model's wire is pipe end a, and pipe
// end b. Neither the driver nor b is started; both are closed when tb ends.
func newLoopback(tb testing.TB, pcfg *pipe.Config, lcfg *virtiotest.LoopbackConfig) (*virtiotest.Loopback, *pipe.Link) {
	tb.Helper()
	a, b, err := pipe.New(pcfg)
	require.NoError(tb, err)
	l, err := virtiotest.NewLoopback(a, lcfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { l.Close(); b.Close() })
	return l, b
}

// netPair returns a loopback driver (see newLoopback), not started, and pipe end b started
// with a Recorder.
func netPair(tb testing.TB, pcfg *pipe.Config, lcfg *virtiotest.LoopbackConfig) (*virtiotest.Loopback, *pipe.Link, *linktest.Recorder) {
	tb.Helper()
	l, b := newLoopback(tb, pcfg, lcfg)
	rb := linktest.NewRecorder(b, nil)
	require.NoError(tb, b.Start(rb))
	return l, b, rb
}

// countingPair is netPair with a Counter in place of the Recorder, for allocation tests and
// benchmarks, where the Recorder's copies would be measured too.
func countingPair(tb testing.TB, pcfg *pipe.Config, lcfg *virtiotest.LoopbackConfig) (*virtiotest.Loopback, *pipe.Link, *linktest.Counter) {
	tb.Helper()
	l, b := newLoopback(tb, pcfg, lcfg)
	cb := linktest.NewCounter(b, nil)
	require.NoError(tb, b.Start(cb))
	return l, b, cb
}

func frame(n int, fill byte) link.Frame {
	b := make([]byte, n)
	for i := range b {
		b[i] = fill + byte(i)
	}
	return link.Frame{Segments: [][]byte{b[:14], b[14:]}}
}

func TestNetNegotiation(t *testing.T) {
	l, _, _ := netPair(t, &pipe.Config{Features: stacktest.Offloads, MTU: 9000}, nil)
	f := l.NegotiatedFeatures()
	for _, want := range []uint64{virtio.FeatureVersion1, virtio.FeatureEventIdx, virtio.NetFMAC, virtio.NetFStatus,
		virtio.NetFMTU, virtio.NetFCsum, virtio.NetFGuestCsum, virtio.NetFHostTSO4, virtio.NetFHostTSO6,
		virtio.NetFGuestTSO4, virtio.NetFGuestTSO6, virtio.NetFMrgRxbuf} {
		require.NotZero(t, f&want, "feature %#x", want)
	}
	require.Equal(t, 9000, l.MTU())
	require.Equal(t, stacktest.Offloads, l.Features())
	require.Equal(t, "02:00:00:00:00:0a", l.MAC().String())
	require.True(t, l.Up())
}

// TestNetFrames sends frames both ways, with segments, offloads and merged receive buffers.
func TestNetFrames(t *testing.T) {
	for _, packed := range []bool{false, true} {
		t.Run(map[bool]string{false: "split", true: "packed"}[packed], func(t *testing.T) { testNetFrames(t, packed) })
	}
}

func testNetFrames(t *testing.T, packed bool) {
	l, b, rb := netPair(t, &pipe.Config{Features: stacktest.Offloads},
		&virtiotest.LoopbackConfig{Device: &virtiotest.NetConfig{Packed: packed}})
	require.Equal(t, packed, l.NegotiatedFeatures()&virtio.FeatureRingPacked != 0)
	rl := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(rl))

	// Driver to pipe.
	n, err := l.Transmit([]link.Frame{frame(60, 1), frame(1514, 2)})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, rb.WaitFrames(t, 2), 2, "frames at the pipe")
	_, bytes := rb.Totals()
	require.Equal(t, uint64(60+1514), bytes)

	// Pipe to driver: a GSO frame spans many 2 KiB receive buffers (MRG_RXBUF).
	big := frame(40000, 3)
	big.Offload = link.Offload{Flags: link.FlagNeedsCsum, GSOType: link.GSOTCPv4,
		HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	_, err = b.Transmit([]link.Frame{frame(60, 4), big})
	require.NoError(t, err)
	got := rl.WaitFrames(t, 2)
	require.Len(t, got, 2, "frames at the driver")
	want := frame(40000, 3)
	require.Equal(t, append(append([]byte(nil), want.Segments[0]...), want.Segments[1]...), got[1].Data)
	require.Equal(t, big.Offload, got[1].Offload)
	st := l.Stats()
	require.Equal(t, uint64(2), st.TxFrames)
	require.Equal(t, uint64(2), st.RxFrames)
	require.Zero(t, st.RxDropped)
	rl.Check(t)
}

// TestNetRxGSOPseudoHeader: a TSO frame whose pending checksum a device wrote as the
// pseudo-header sum without the length, as DPDK's vhost library writes it, reaches the
// receiver with the length added, as the link contract and Linux expect it; a TSO frame
// written that way already, and a frame without GSO, arrive unchanged.
func TestNetRxGSOPseudoHeader(t *testing.T) {
	l, b, _ := netPair(t, &pipe.Config{Features: stacktest.Offloads}, nil)
	rl := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(rl))
	// withoutLength returns f with the pending checksum field less the transport length.
	withoutLength := func(f []byte, o link.Offload) []byte {
		f = append([]byte(nil), f...)
		at := int(o.CsumStart) + int(o.CsumOffset)
		var negLen [2]byte
		binary.BigEndian.PutUint16(negLen[:], ^uint16(len(f)-int(o.CsumStart)))
		binary.BigEndian.PutUint16(f[at:], link.Checksum(negLen[:], binary.BigEndian.Uint16(f[at:])))
		return f
	}
	var want [][]byte
	for i, v6 := range []bool{false, true} {
		pk := linktest.Packet{SrcMAC: b.MAC(), DstMAC: l.MAC(), IPv6: v6, TCP: true,
			SrcPort: linktest.SuitePort, DstPort: uint16(100 + i), Payload: make([]byte, 5000)}
		tso, off := pk.TSOFrame(1400)
		pk.DstPort += 10
		tsoLinux, offLinux := pk.TSOFrame(1400)
		pk.DstPort += 10
		pk.Payload = pk.Payload[:1000]
		plain, offPlain := pk.PartialFrame()
		plainWithout := withoutLength(plain, offPlain)
		_, err := b.Transmit([]link.Frame{
			{Segments: [][]byte{withoutLength(tso, off)}, Offload: off},
			{Segments: [][]byte{tsoLinux}, Offload: offLinux},
			{Segments: [][]byte{plainWithout}, Offload: offPlain},
		})
		require.NoError(t, err)
		want = append(want, tso, tsoLinux, plainWithout)
	}
	got := rl.WaitFrames(t, len(want))
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i], got[i].Data, "frame %d", i)
		if got[i].Offload.GSOType != link.GSONone {
			require.NoError(t, linktest.VerifyChecksums(got[i].Data, got[i].Offload), "frame %d", i)
		}
	}
	rl.Check(t)
}

// TestNetMaliciousDevice breaks the protocol from the device side while the driver runs: the
// driver fails with a clear error, reports the link down and refuses to transmit.
func TestNetMaliciousDevice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(l *virtiotest.Loopback)
		want   error
	}{
		{"rx id out of range", func(l *virtiotest.Loopback) { l.Device.Queue(0).InjectUsed(4096, 0) }, virtio.ErrDeviceBroken},
		{"rx length beyond buffer", func(l *virtiotest.Loopback) { l.Device.Queue(0).InjectUsed(3, 1<<20) }, virtio.ErrDeviceBroken},
		{"rx index jumps", func(l *virtiotest.Loopback) { l.Device.Queue(0).SetUsedIdx(40000) }, virtio.ErrDeviceBroken},
		{"needs reset", func(l *virtiotest.Loopback) { l.Device.NeedsReset() }, virtio.ErrNeedsReset},
		{"config never settles", func(l *virtiotest.Loopback) {
			l.Device.ChurnGeneration(1 << 30)
			l.Device.SetConfig(6, []byte{1, 0})
		}, virtio.ErrDeviceBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _, _ := netPair(t, nil, nil)
			r := linktest.NewRecorder(l, nil)
			require.NoError(t, l.Start(r))
			tc.inject(l)
			require.Eventually(t, func() bool { return l.Err() != nil }, waitTimeout, time.Millisecond, "the driver to fail")
			require.ErrorIs(t, l.Err(), tc.want)
			t.Logf("driver error: %v", l.Err())
			require.False(t, l.Up())
			_, err := l.Transmit([]link.Frame{frame(60, 0)})
			require.ErrorIs(t, err, tc.want)
			r.WaitStates(t, false)
			require.NotZero(t, l.Device.Status()&virtio.StatusFailed, "driver set FAILED")
		})
	}
}

// TestNetTxReclaimMalicious: a bad used entry on the transmit queue is caught when the driver
// reclaims transmit buffers.
func TestNetTxReclaimMalicious(t *testing.T) {
	l, _, _ := netPair(t, nil, &virtiotest.LoopbackConfig{Driver: &virtio.NetConfig{QueueSize: 4}})
	l.Device.Queue(1).InjectUsed(77, 0)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = l.Transmit([]link.Frame{frame(60, 0)})
	}
	require.ErrorIs(t, err, virtio.ErrDeviceBroken)
	require.ErrorContains(t, err, "out of range")
}

// TestNetLinkStatus: VIRTIO_NET_S_LINK_UP changes reach the receiver.
func TestNetLinkStatus(t *testing.T) {
	l, _, _ := netPair(t, nil, nil)
	r := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(r))
	l.Device.SetConfig(6, []byte{0, 0})
	r.WaitStates(t, false)
	require.False(t, l.Up())
	_, err := l.Transmit([]link.Frame{frame(60, 0)})
	require.ErrorIs(t, err, link.ErrLinkDown)
	l.Device.SetConfig(6, []byte{1, 0})
	r.WaitStates(t, false, true)
	require.NoError(t, l.Err())
}

// TestNetStartContract: Start refuses a nil receiver, a second start and a closed link with
// the link package's sentinels, on a link that was started and one that never was.
func TestNetStartContract(t *testing.T) {
	l, _, _ := netPair(t, nil, nil)
	r := linktest.NewRecorder(l, nil)
	require.ErrorIs(t, l.Start(nil), link.ErrNilReceiver)
	require.NoError(t, l.Start(r))
	require.ErrorIs(t, l.Start(r), link.ErrStarted)
	require.ErrorIs(t, l.Start(nil), link.ErrNilReceiver)
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Start(r), link.ErrClosed)

	never, _, _ := netPair(t, nil, nil)
	require.NoError(t, never.Close())
	require.ErrorIs(t, never.Start(linktest.NewRecorder(never, nil)), link.ErrClosed)
}

// TestNetAfterLent: frames lent before Close stay as they were, and the hook through which a
// transport frees its memory after Close runs once the receiver has given back the last of
// them, exactly once; Release after Close is harmless.
func TestNetAfterLent(t *testing.T) {
	l, b, _ := netPair(t, nil, nil)
	rl := linktest.NewRecorder(l, nil)
	rl.Hold(2)
	require.NoError(t, l.Start(rl))
	_, err := b.Transmit([]link.Frame{frame(60, 1), frame(70, 2)})
	require.NoError(t, err)
	got := rl.WaitFrames(t, 2)
	require.NoError(t, l.Close())

	var freed atomic.Int32
	l.AfterLent(func() { freed.Add(1) })
	held := rl.Held()
	require.Len(t, held, 2)
	for i := range held {
		var data []byte
		for _, seg := range held[i].Segments {
			data = append(data, seg...)
		}
		require.Equal(t, got[i].Data, data, "frame %d lent over Close", i)
	}
	l.Release(held[:1])
	l.Release(held[:1]) // not lent any more: ignored
	require.Zero(t, freed.Load(), "memory freed while a frame is lent")
	l.Release(held[1:])
	require.Equal(t, int32(1), freed.Load(), "memory freed with the last frame")
	l.Release(held)
	require.Equal(t, int32(1), freed.Load())
	// With nothing lent, at once.
	l.AfterLent(func() { freed.Add(1) })
	require.Equal(t, int32(2), freed.Load())
	rl.Check(t)
}

// TestNetTxOffloadChecks: frames with offloads the device did not negotiate are dropped.
func TestNetTxOffloadChecks(t *testing.T) {
	l, _, rb := netPair(t, nil, nil) // no offloads on the pipe: no CSUM, no TSO
	bad := []link.Frame{frame(60, 0), frame(2000, 0), {Segments: [][]byte{make([]byte, 10)}}, frame(60, 0)}
	bad[0].Offload = link.Offload{Flags: link.FlagNeedsCsum, CsumStart: 34, CsumOffset: 16}
	bad[3].Offload = link.Offload{GSOType: link.GSOTCPv4, GSOSize: 100}
	n, err := l.Transmit(bad)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Equal(t, uint64(4), l.Stats().TxDropped)
	// A good frame sent after them arrives alone.
	_, err = l.Transmit([]link.Frame{frame(61, 9)})
	require.NoError(t, err)
	require.Len(t, rb.WaitFrames(t, 1), 1)
	require.Len(t, rb.Frames()[0].Data, 61)
}

// TestNetAllocs proves that both directions allocate nothing per frame in steady state: the
// driver, the device model and the pipe together.
func TestNetAllocs(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	for _, packed := range []bool{false, true} {
		t.Run(map[bool]string{false: "split", true: "packed"}[packed], func(t *testing.T) { testNetAllocs(t, packed) })
	}
}

func testNetAllocs(t *testing.T, packed bool) {
	l, b, cb := countingPair(t, &pipe.Config{Features: stacktest.Offloads},
		&virtiotest.LoopbackConfig{Device: &virtiotest.NetConfig{Packed: packed}})
	cl := linktest.NewCounter(l, nil)
	require.NoError(t, l.Start(cl))
	batch := make([]link.Frame, 32)
	for i := range batch {
		batch[i] = frame(1514, byte(i))
	}
	// Each direction transmits a batch and waits until it has arrived.
	through := func(tx link.Link, rx *linktest.Counter) func() {
		return func() {
			if _, err := tx.Transmit(batch); err != nil {
				panic(err)
			}
			if err := rx.Wait(len(batch)); err != nil {
				panic(err)
			}
		}
	}
	tx, rx := through(l, cb), through(b, cl)
	for range 100 {
		tx()
	}
	r := allocs.Measure(200, 0, tx).Per(len(batch), "frames")
	require.Zero(t, r.Mallocs, "transmit path: %v", r)
	for range 100 {
		rx()
	}
	r = allocs.Measure(200, 0, rx).Per(len(batch), "frames")
	require.Zero(t, r.Mallocs, "receive path: %v", r)
}

// BenchmarkNetTx measures 60-byte frames per second from the driver through the transmit
// virtqueue and the device model to the pipe's far end.
func BenchmarkNetTx(b *testing.B) {
	b.Run("split", func(b *testing.B) { benchNet(b, true, false) })
	b.Run("packed", func(b *testing.B) { benchNet(b, true, true) })
}

// BenchmarkNetRx measures 60-byte frames per second from the pipe's far end through the device
// model and the receive virtqueue to the driver's receiver.
func BenchmarkNetRx(b *testing.B) {
	b.Run("split", func(b *testing.B) { benchNet(b, false, false) })
	b.Run("packed", func(b *testing.B) { benchNet(b, false, true) })
}

func benchNet(b *testing.B, tx, packed bool) {
	l, pb, cb := countingPair(b, nil, &virtiotest.LoopbackConfig{Device: &virtiotest.NetConfig{Packed: packed}})
	cl := linktest.NewCounter(l, nil)
	require.NoError(b, l.Start(cl))
	batch := make([]link.Frame, 64)
	for i := range batch {
		batch[i] = frame(60, byte(i))
	}
	link, counter := link.Link(l), cb
	if !tx {
		link, counter = pb, cl
	}
	want := 0
	for range 100 { // warm up: buffers are allocated on first use
		if _, err := link.Transmit(batch); err != nil {
			b.Fatal(err)
		}
		want += len(batch)
	}
	require.NoError(b, counter.Wait(want))
	b.ReportAllocs()
	b.SetBytes(int64(len(batch) * 60))
	report := allocs.Start(b)
	start, first := time.Now(), want
	for b.Loop() {
		if _, err := link.Transmit(batch); err != nil {
			b.Fatal(err)
		}
		want += len(batch)
	}
	require.NoError(b, counter.Wait(want-first)) // Wait counts from the previous Wait
	b.ReportMetric(float64(want-first)/time.Since(start).Seconds(), "frames/s")
	report(int64(want-first), "frame")
}

// FuzzUsedRing lets a malicious device write arbitrary used entries and indexes: the driver
// never panics, only returns tokens of chains it posted with lengths within their writable
// buffers, and stays broken once it has reported ErrDeviceBroken.
func FuzzUsedRing(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 10, 0})
	f.Add([]byte{0, 9, 0, 0, 0, 10, 0, 1, 0xff, 0xff})
	f.Add([]byte{0, 1, 0, 0, 0, 0xff, 0xff, 0, 1, 0, 0, 0, 0, 0})
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 10, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		kind := uint64(0) // the first byte's top bit picks the packed ring
		if ops[0]&0x80 != 0 {
			kind = virtio.FeatureRingPacked
		}
		q, dq, mem := queuePair(t, 8, kind|virtio.FeatureIndirectDesc, &virtio.QueueConfig{Indirect: 3})
		buf, _ := mem.Alloc(256, 8)
		writable := map[uint64]uint32{}
		outstanding := map[uint64]bool{}
		token := uint64(0)
		broken := false
		for len(ops) > 0 {
			// Keep chains posted: 1 to 3 buffers, some writable.
			for q.NumFree() > 2 {
				w := uint32(token%5) * 16
				chain := []virtio.Buffer{{Addr: buf.Addr, Len: 8}}
				if w > 0 {
					chain = append(chain, virtio.Buffer{Addr: buf.Addr + 64, Len: w, Write: true})
				}
				if token%3 == 0 {
					chain = append(chain, virtio.Buffer{Addr: buf.Addr + 128, Len: 8, Write: true})
					w += 8
				}
				if _, err := q.Add(chain, token); err != nil {
					require.ErrorIs(t, err, virtio.ErrDeviceBroken)
					break
				}
				writable[token], outstanding[token] = w, true
				token++
			}
			op := ops[0]
			ops = ops[1:]
			switch op % 2 {
			case 0: // a used entry: id (u32), len (u16 scaled)
				if len(ops) < 6 {
					return
				}
				dq.InjectUsed(binary.LittleEndian.Uint32(ops), uint32(binary.LittleEndian.Uint16(ops[4:])))
				ops = ops[6:]
			case 1: // a raw used index
				if len(ops) < 2 {
					return
				}
				dq.SetUsedIdx(binary.LittleEndian.Uint16(ops))
				ops = ops[2:]
			}
			for {
				u, ok, err := q.Get()
				if err != nil {
					require.ErrorIs(t, err, virtio.ErrDeviceBroken)
					broken = true
					break
				}
				require.False(t, broken, "a broken queue returned an entry")
				if !ok {
					break
				}
				require.True(t, outstanding[u.Token], "token %d not outstanding", u.Token)
				require.LessOrEqual(t, u.Len, writable[u.Token])
				delete(outstanding, u.Token)
			}
		}
	})
}

// FuzzNetRx lets a malicious device fill receive buffers with arbitrary bytes (virtio_net_hdr
// included), used lengths and num_buffers: the driver never panics and delivers only frames
// whose length and offload metadata are consistent.
func FuzzNetRx(f *testing.F) {
	hdr := func(flags, gso byte, hdrLen, gsoSize, start, off, num uint16) []byte {
		b := make([]byte, 12)
		b[0], b[1] = flags, gso
		binary.LittleEndian.PutUint16(b[2:], hdrLen)
		binary.LittleEndian.PutUint16(b[4:], gsoSize)
		binary.LittleEndian.PutUint16(b[6:], start)
		binary.LittleEndian.PutUint16(b[8:], off)
		binary.LittleEndian.PutUint16(b[10:], num)
		return b
	}
	pad := func(b []byte, n int) []byte { return append(b, make([]byte, n)...) }
	f.Add(pad(hdr(0, 0, 0, 0, 0, 0, 1), 60), uint16(72), uint16(0))
	f.Add(pad(hdr(1, 1, 54, 1448, 34, 16, 1), 100), uint16(112), uint16(0))
	f.Add(pad(hdr(1, 0, 0, 0, 1000, 16, 1), 60), uint16(72), uint16(0))
	f.Add(pad(hdr(0, 0, 0, 0, 0, 0, 3), 60), uint16(72), uint16(2048))
	f.Add(pad(hdr(0, 0, 0, 0, 0, 0, 0), 60), uint16(72), uint16(0))
	f.Add(pad(hdr(0, 0x85, 0, 0, 0, 0, 1), 60), uint16(9000), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, len0, len1 uint16) {
		l, _, _ := netPair(t, &pipe.Config{Features: stacktest.Offloads},
			&virtiotest.LoopbackConfig{Driver: &virtio.NetConfig{QueueSize: 16}, MemorySize: 4 << 20})
		dq := l.Device.Queue(virtio.NetRxQueue)
		// The malicious device takes two receive buffers and writes data across them.
		for i, n := range []uint16{len0, len1} {
			var c virtiotest.Chain
			ok, err := dq.Pop(&c)
			require.NoError(t, err)
			require.True(t, ok)
			if i == 0 {
				copy(c.Writable[0], data)
			} else if len(data) > len(c.Writable[0]) {
				copy(c.Writable[0], data[len(c.Writable[0]):])
			}
			dq.Push(c.Head, uint32(n))
		}
		dq.Flush()
		l.ReapRx(func(frames []link.Frame) {
			for i := range frames {
				fr := &frames[i]
				n := fr.Len()
				require.GreaterOrEqual(t, n, link.EthernetHeaderLen)
				require.LessOrEqual(t, n, link.MaxGSOSize)
				o := fr.Offload
				if o.Flags&link.FlagNeedsCsum != 0 {
					require.LessOrEqual(t, int(o.CsumStart)+int(o.CsumOffset)+2, n)
				}
				if o.GSOType == link.GSONone {
					require.LessOrEqual(t, n, link.EthernetHeaderLen+l.MTU())
				} else {
					require.NotZero(t, o.GSOSize)
					require.NotZero(t, o.Flags&link.FlagNeedsCsum)
				}
			}
			l.Release(frames)
		})
		if err := l.Err(); err != nil {
			require.True(t, errors.Is(err, virtio.ErrDeviceBroken), "%v", err)
			require.False(t, l.Up())
		}
	})
}

// TestNetControlQueue: with CTRL_VQ and MQ offered the driver sets up the control queue after
// the device's queue pairs and tells the device it uses one pair.
func TestNetControlQueue(t *testing.T) {
	for _, packed := range []bool{false, true} {
		l, _, rb := netPair(t, nil, &virtiotest.LoopbackConfig{Transport: virtiotest.TransportPCI,
			Device: &virtiotest.NetConfig{MaxPairs: 4, Packed: packed}})
		f := l.NegotiatedFeatures()
		require.NotZero(t, f&virtio.NetFCtrlVQ)
		require.NotZero(t, f&virtio.NetFMQ)
		require.Equal(t, 1, l.Device.Pairs())
		_, err := l.Transmit([]link.Frame{frame(60, 0)})
		require.NoError(t, err)
		require.Len(t, rb.WaitFrames(t, 1), 1, "a frame through pair 0")
	}
}

// TestNetControlQueueAfterMQ: a device whose queues follow the negotiation, as QEMU's
// virtio-net does (num_queues is 3 until VIRTIO_NET_F_MQ is negotiated, 2*pairs+1 after), gets
// its control queue after all its pairs: the driver reads num_queues after negotiating rather
// than when it first mapped the device.
func TestNetControlQueueAfterMQ(t *testing.T) {
	for _, packed := range []bool{false, true} {
		l, _, rb := netPair(t, nil, &virtiotest.LoopbackConfig{Transport: virtiotest.TransportPCI,
			Device: &virtiotest.NetConfig{MaxPairs: 2, QueuesFollowMQ: true, Packed: packed}})
		require.NotZero(t, l.NegotiatedFeatures()&virtio.NetFMQ)
		require.Equal(t, 1, l.Device.Pairs(), "VQ_PAIRS_SET reached the control queue at index 4")
		_, err := l.Transmit([]link.Frame{frame(60, 0)})
		require.NoError(t, err)
		require.Len(t, rb.WaitFrames(t, 1), 1, "a frame through pair 0")
	}
}

// TestNetControlTimeout: a device that never completes a control command cannot hang the
// driver.
func TestNetControlTimeout(t *testing.T) {
	a, b, err := pipe.New(nil)
	require.NoError(t, err)
	defer b.Close()
	_, err = virtiotest.NewLoopback(a, &virtiotest.LoopbackConfig{
		Device: &virtiotest.NetConfig{MaxPairs: 2, CtrlNoAnswer: true}})
	require.ErrorIs(t, err, virtio.ErrDeviceBroken)
	require.ErrorContains(t, err, "not completed")
}

// TestNetCoalesceTxKicks: with CoalesceTxKicks, frames transmitted one Transmit at a time by a
// goroutine that does not yield all reach the device, with one notification for many of
// them (the receive goroutine makes it once the transmitter waits), on both ring layouts.
func TestNetCoalesceTxKicks(t *testing.T) {
	for _, packed := range []bool{false, true} {
		t.Run(map[bool]string{false: "split", true: "packed"}[packed], func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the receive goroutine runs when the test waits
			l, _, rb := netPair(t, nil, &virtiotest.LoopbackConfig{
				Device: &virtiotest.NetConfig{Packed: packed},
				Driver: &virtio.NetConfig{CoalesceTxKicks: true}})
			require.NoError(t, l.Start(linktest.NewRecorder(l, nil)))
			before := l.Device.Queue(virtio.NetTxQueue).Notifications()
			const frames = 64
			for i := range frames {
				n, err := l.Transmit([]link.Frame{frame(60, byte(i))})
				require.NoError(t, err)
				require.Equal(t, 1, n)
			}
			require.Len(t, rb.WaitFrames(t, frames), frames, "every frame reaches the device")
			kicks := l.Device.Queue(virtio.NetTxQueue).Notifications() - before
			assert.Less(t, kicks, uint64(frames/4), "notifications for %d single-frame Transmits", frames)
		})
	}
}

// TestNetBusyPoll: with BusyPoll, frames reach the receiver whether they come while the
// receive goroutine polls or after it has gone back to waiting for an interrupt, and Close
// stops a polling goroutine.
func TestNetBusyPoll(t *testing.T) {
	l, b, _ := netPair(t, nil, &virtiotest.LoopbackConfig{
		Driver: &virtio.NetConfig{BusyPoll: 20 * time.Millisecond, CoalesceTxKicks: true}})
	rl := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(rl))
	for round := range 3 {
		for i := range 10 {
			_, err := b.Transmit([]link.Frame{frame(60+i, byte(round))})
			require.NoError(t, err)
		}
		require.Len(t, rl.WaitFrames(t, 10*(round+1)), 10*(round+1))
		if round == 1 {
			time.Sleep(50 * time.Millisecond) // past the polling: the next frames need an interrupt
		}
	}
	require.NoError(t, l.Close())
	rl.Check(t)
}
