package socket

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

const waitTimeout = 10 * time.Second

// quietConfig returns a config whose logger writes to the test log.
func quietConfig(t testing.TB) *Config {
	return &Config{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// start starts l with a recorder and closes l when the test ends.
func start(t *testing.T, l *Link) *linktest.Recorder {
	t.Helper()
	r := linktest.NewRecorder(l, &linktest.RecorderConfig{Timeout: waitTimeout})
	require.NoError(t, l.Start(r))
	t.Cleanup(func() { l.Close() })
	return r
}

// waitFrames waits until r has recorded n frames and returns the bytes of all it recorded.
func waitFrames(t *testing.T, r *linktest.Recorder, n int) [][]byte {
	t.Helper()
	return frameData(r.WaitFrames(t, n))
}

// testFrame returns an n-byte Ethernet frame whose payload is derived from seed.
func testFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, seed, 0x88, 0xb5})
	for i := link.EthernetHeaderLen; i < n; i++ {
		f[i] = byte(i) ^ seed
	}
	return f
}

// record encodes one frame in the stream format.
func record(frame []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
}

// checkRoundTrip sends frames of many sizes, some split into several segments, from a to b
// and b to a and checks what arrives.
func checkRoundTrip(t *testing.T, a, b *Link) {
	t.Helper()
	ra, rb := start(t, a), start(t, b)
	sizes := []int{14, 60, 64, 1514, 1518, 9014, 65535}
	var want [][]byte
	var frames []link.Frame
	for i, n := range sizes {
		f := testFrame(n, byte(i))
		want = append(want, f)
		// Split every other frame into three segments, as the stack's adapter does.
		if i%2 == 1 {
			frames = append(frames, link.Frame{Segments: [][]byte{f[:6], f[6:14], f[14:]}})
		} else {
			frames = append(frames, link.Frame{Segments: [][]byte{f}})
		}
	}
	for _, dir := range []struct {
		name     string
		from, to *Link
		rec      *linktest.Recorder
	}{{"a->b", a, b, rb}, {"b->a", b, a, ra}} {
		n, err := dir.from.Transmit(frames)
		require.NoError(t, err, dir.name)
		require.Equal(t, len(frames), n, dir.name)
		require.Equal(t, want, waitFrames(t, dir.rec, len(want)), dir.name)
	}
	total := 0
	for _, f := range want {
		total += len(f)
	}
	sa, sb := a.Stats(), b.Stats()
	require.Equal(t, uint64(len(want)), sa.TxFrames)
	require.Equal(t, uint64(total), sa.TxBytes)
	require.Equal(t, uint64(len(want)), sb.RxFrames)
	require.Equal(t, uint64(total), sb.RxBytes)
	require.Zero(t, sb.RxDropped+sb.RxErrors+sa.TxDropped+sa.TxErrors)
}

func TestRoundTripPipe(t *testing.T) {
	c1, c2 := net.Pipe()
	a, err := New(c1, quietConfig(t))
	require.NoError(t, err)
	b, err := New(c2, quietConfig(t))
	require.NoError(t, err)
	checkRoundTrip(t, a, b)
}

func TestRoundTripUnixPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	srv, err := Listen("unix", path, quietConfig(t))
	require.NoError(t, err)
	require.False(t, srv.Up())
	cli, err := Dial(context.Background(), "unix", path, quietConfig(t))
	require.NoError(t, err)
	require.True(t, cli.Up())
	checkRoundTrip(t, cli, srv)
	require.True(t, srv.Up())
}

func TestRoundTripTCP(t *testing.T) {
	srv, err := Listen("tcp", "127.0.0.1:0", quietConfig(t))
	require.NoError(t, err)
	cli, err := Dial(context.Background(), "tcp", srv.Addr().String(), quietConfig(t))
	require.NoError(t, err)
	checkRoundTrip(t, cli, srv)
}

// TestFragmentedStream feeds records one byte per write, as a stream socket may deliver them,
// and a burst of many records in one write.
func TestFragmentedStream(t *testing.T) {
	c1, c2 := net.Pipe()
	l, err := New(c2, quietConfig(t))
	require.NoError(t, err)
	r := start(t, l)
	var want [][]byte
	var stream []byte
	for i := range 200 {
		f := testFrame(14+i*7%1500, byte(i))
		want = append(want, f)
		stream = append(stream, record(f)...)
	}
	go func() {
		// The first 3 records byte by byte, the rest in one write.
		split := len(record(want[0])) + len(record(want[1])) + len(record(want[2]))
		for i := range split {
			if _, err := c1.Write(stream[i : i+1]); err != nil {
				return
			}
		}
		c1.Write(stream[split:])
	}()
	require.Equal(t, want, waitFrames(t, r, len(want)))
	c1.Close()
	r.WaitStates(t, false)
	require.Zero(t, l.Stats().RxErrors)
}

func TestRuntsSkipped(t *testing.T) {
	c1, c2 := net.Pipe()
	l, err := New(c2, quietConfig(t))
	require.NoError(t, err)
	r := start(t, l)
	good := testFrame(60, 1)
	var stream []byte
	stream = append(stream, 0, 0, 0, 0)           // zero-length record
	stream = append(stream, record(good[:5])...)  // 5 bytes
	stream = append(stream, record(good[:13])...) // 13 bytes
	stream = append(stream, record(good)...)
	go c1.Write(stream)
	require.Equal(t, [][]byte{good}, waitFrames(t, r, 1))
	st := l.Stats()
	require.Equal(t, uint64(3), st.RxDropped)
	require.Equal(t, uint64(1), st.RxFrames)
	require.True(t, l.Up())
	c1.Close()
}

// TestOversizedClosesClient: a length prefix above MaxFrameLen closes the connection cleanly:
// the frames before it are delivered, the link goes down, the error is counted, the peer sees
// the connection closed, and nothing large is allocated.
func TestOversizedClosesClient(t *testing.T) {
	for _, n := range []uint32{65536, 69633, 1 << 31, 0xffffffff} {
		c1, c2 := net.Pipe()
		l, err := New(c2, quietConfig(t))
		require.NoError(t, err)
		r := start(t, l)
		good := testFrame(100, 2)
		stream := append(record(good), binary.BigEndian.AppendUint32(nil, n)...)
		stream = append(stream, make([]byte, 64)...)
		go c1.Write(stream)
		require.Equal(t, [][]byte{good}, waitFrames(t, r, 1))
		r.WaitStates(t, false)
		require.False(t, l.Up())
		st := l.Stats()
		require.Equal(t, uint64(1), st.RxErrors)
		require.Equal(t, uint64(1), st.RxFrames)
		require.Less(t, l.rx.pool.allocated(), 1<<20, "pool allocation after an oversized prefix")
		// The peer's side is closed.
		c1.SetReadDeadline(time.Now().Add(waitTimeout))
		_, err = c1.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF)
		_, err = l.Transmit([]link.Frame{{Segments: [][]byte{good}}})
		require.ErrorIs(t, err, link.ErrLinkDown)
		require.NoError(t, l.Close())
	}
}

// TestServerReconnect: the listening side is down until a peer connects, goes down on EOF and
// on a protocol error, and up again for the next peer.
func TestServerReconnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srv.sock")
	l, err := Listen("unix", path, quietConfig(t))
	require.NoError(t, err)
	r := start(t, l)
	require.False(t, l.Up())
	_, err = l.Transmit([]link.Frame{{Segments: [][]byte{testFrame(60, 0)}}})
	require.ErrorIs(t, err, link.ErrLinkDown)

	// Peer 1 sends a frame, reads one and disconnects.
	p1, err := net.Dial("unix", path)
	require.NoError(t, err)
	f1 := testFrame(100, 1)
	_, err = p1.Write(record(f1))
	require.NoError(t, err)
	require.Equal(t, [][]byte{f1}, waitFrames(t, r, 1))
	r.WaitStates(t, true)
	require.True(t, l.Up())
	back := testFrame(80, 9)
	_, err = l.Transmit([]link.Frame{{Segments: [][]byte{back}}})
	require.NoError(t, err)
	got := make([]byte, 84)
	_, err = io.ReadFull(p1, got)
	require.NoError(t, err)
	require.Equal(t, record(back), got)
	p1.Close()
	r.WaitStates(t, true, false)
	require.False(t, l.Up())

	// Peer 2 connects and breaks the protocol.
	p2, err := net.Dial("unix", path)
	require.NoError(t, err)
	r.WaitStates(t, true, false, true)
	_, err = p2.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	require.NoError(t, err)
	r.WaitStates(t, true, false, true, false)
	p2.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err = p2.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, uint64(1), l.Stats().RxErrors)

	// Peer 3 is served normally.
	p3, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer p3.Close()
	f3 := testFrame(1514, 3)
	_, err = p3.Write(record(f3))
	require.NoError(t, err)
	require.Equal(t, [][]byte{f1, f3}, waitFrames(t, r, 2))
	r.WaitStates(t, true, false, true, false, true)
}

// TestServerOnePeerAtATime: a second peer waits in the backlog until the first disconnects.
func TestServerOnePeerAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one.sock")
	l, err := Listen("unix", path, quietConfig(t))
	require.NoError(t, err)
	r := start(t, l)
	p1, err := net.Dial("unix", path)
	require.NoError(t, err)
	r.WaitStates(t, true)
	p2, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer p2.Close()
	f2 := testFrame(70, 2)
	_, err = p2.Write(record(f2))
	require.NoError(t, err)
	f1 := testFrame(70, 1)
	_, err = p1.Write(record(f1))
	require.NoError(t, err)
	require.Equal(t, [][]byte{f1}, waitFrames(t, r, 1))
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, 1, r.Len(), "second peer served while the first is connected")
	p1.Close()
	require.Equal(t, [][]byte{f1, f2}, waitFrames(t, r, 2))
	r.WaitStates(t, true, false, true)
}

func TestTruncatedStream(t *testing.T) {
	c1, c2 := net.Pipe()
	l, err := New(c2, quietConfig(t))
	require.NoError(t, err)
	r := start(t, l)
	go func() {
		c1.Write(record(testFrame(100, 0))[:50])
		c1.Close()
	}()
	r.WaitStates(t, false)
	require.Equal(t, uint64(1), l.Stats().RxErrors)
	require.Zero(t, l.Stats().RxFrames)
}

func TestTransmitRejects(t *testing.T) {
	c1, c2 := net.Pipe()
	l, err := New(c1, quietConfig(t))
	require.NoError(t, err)
	peer, err := New(c2, quietConfig(t))
	require.NoError(t, err)
	r := start(t, peer)
	start(t, l)
	good := testFrame(60, 1)
	for _, tc := range []struct {
		name  string
		frame link.Frame
		err   error
	}{
		{"csum", link.Frame{Segments: [][]byte{good}, Offload: link.Offload{Flags: link.FlagNeedsCsum}}, ErrOffload},
		{"gso", link.Frame{Segments: [][]byte{good}, Offload: link.Offload{GSOType: link.GSOTCPv4, GSOSize: 1000}}, ErrOffload},
		{"empty", link.Frame{}, ErrRunt},
		{"runt", link.Frame{Segments: [][]byte{good[:13]}}, ErrRunt},
		{"large", link.Frame{Segments: [][]byte{make([]byte, 65536)}}, link.ErrFrameTooLarge},
	} {
		n, err := l.Transmit([]link.Frame{{Segments: [][]byte{good}}, tc.frame, {Segments: [][]byte{good}}})
		require.ErrorIs(t, err, tc.err, tc.name)
		require.Equal(t, 1, n, tc.name)
	}
	// Only the good frames before each bad one arrived.
	require.Len(t, waitFrames(t, r, 5), 5)
	require.Equal(t, uint64(5), l.Stats().TxDropped)
	// A frame marked only as checksum-verified is complete and is sent.
	n, err := l.Transmit([]link.Frame{{Segments: [][]byte{good}, Offload: link.Offload{Flags: link.FlagDataValid}}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, l.Close())
	_, err = l.Transmit([]link.Frame{{Segments: [][]byte{good}}})
	require.ErrorIs(t, err, link.ErrClosed)
}

func TestConfig(t *testing.T) {
	c1, _ := net.Pipe()
	defer c1.Close()
	l, err := New(c1, nil)
	require.NoError(t, err)
	require.Equal(t, DefaultMTU, l.MTU())
	require.Len(t, l.MAC(), 6)
	require.Equal(t, byte(0x02), l.MAC()[0]&0x03, "locally administered unicast")
	require.Zero(t, l.Features())
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	l, err = New(c1, &Config{MAC: mac, MTU: 65520})
	require.NoError(t, err)
	require.Equal(t, mac, l.MAC())
	require.Equal(t, 65520, l.MTU())
	for _, bad := range []Config{
		{MTU: 67},
		{MTU: 65522, MaxFrameLen: 65535},
		{MaxFrameLen: MaxFrameLenLimit + 1},
		{MTU: 9000, MaxFrameLen: 9000},
		{MAC: net.HardwareAddr{1, 2, 3}},
	} {
		_, err := New(c1, &bad)
		require.Error(t, err, "%+v", bad)
	}
	_, err = Dial(context.Background(), "unix", filepath.Join(t.TempDir(), "none"), nil)
	require.Error(t, err)
}

func TestStartTwiceAndAfterClose(t *testing.T) {
	c1, _ := net.Pipe()
	l, err := New(c1, quietConfig(t))
	require.NoError(t, err)
	r := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(r))
	require.ErrorIs(t, l.Start(r), link.ErrStarted)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	c2, _ := net.Pipe()
	l2, err := New(c2, nil)
	require.NoError(t, err)
	require.NoError(t, l2.Close())
	require.ErrorIs(t, l2.Start(r), link.ErrClosed)
}

// TestCloseNoLeak: Close is idempotent and ends every goroutine, for client and server links,
// started or not, connected or not, with the reader blocked in a read or waiting for buffers.
func TestCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	path := filepath.Join(t.TempDir(), "leak.sock")
	for range 3 {
		srv, err := Listen("unix", path, quietConfig(t))
		require.NoError(t, err)
		r := linktest.NewRecorder(srv, nil)
		require.NoError(t, srv.Start(r))
		cli, err := Dial(context.Background(), "unix", path, quietConfig(t))
		require.NoError(t, err)
		require.NoError(t, cli.Start(linktest.NewRecorder(cli, nil)))
		r.WaitStates(t, true)
		// A listening link with no peer, and one never started.
		idle, err := Listen("tcp", "127.0.0.1:0", quietConfig(t))
		require.NoError(t, err)
		require.NoError(t, idle.Start(linktest.NewRecorder(idle, nil)))
		unstarted, err := Listen("tcp", "127.0.0.1:0", quietConfig(t))
		require.NoError(t, err)

		// A link whose receiver holds every buffer: its reader waits in the pool.
		h1, h2 := net.Pipe()
		hog, err := New(h2, quietConfig(t))
		require.NoError(t, err)
		hold := linktest.NewRecorder(hog, nil)
		hold.Hold(math.MaxInt) // never releases: the reader ends up waiting for a buffer
		require.NoError(t, hog.Start(hold))
		go func() {
			f := record(testFrame(60, 0))
			for range smallBufs + 10 {
				if _, err := h1.Write(f); err != nil {
					return
				}
			}
		}()

		for _, l := range []*Link{cli, srv, idle, unstarted, hog} {
			require.NoError(t, l.Close())
			require.NoError(t, l.Close())
			require.False(t, l.Up())
		}
		h1.Close()
	}
	leaktest.Settle(t, before)
}

func TestReleaseValidates(t *testing.T) {
	c1, c2 := net.Pipe()
	l, err := New(c2, quietConfig(t))
	require.NoError(t, err)
	r := linktest.NewRecorder(l, nil)
	r.Hold(1)
	require.NoError(t, l.Start(r))
	defer l.Close()
	go c1.Write(record(testFrame(60, 0)))
	r.WaitFrames(t, 1)
	f := r.Held()[0]
	l.Release([]link.Frame{f})
	// Double release and made-up cookies are ignored.
	l.Release([]link.Frame{f, {Cookie: 1<<32 | 5}, {Cookie: 7 << 32}, {Cookie: 99999}})
	require.Len(t, l.rx.pool.classes[0].free, 1)
}

// linkPair returns two started links over a UNIX socket pair, the server b up; b's receiver
// counts frames.
func linkPair(tb testing.TB) (a, b *Link, recv *linktest.Counter) {
	tb.Helper()
	dir := tb.TempDir()
	srv, err := Listen("unix", filepath.Join(dir, "p.sock"), &Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(tb, err)
	cli, err := Dial(context.Background(), "unix", filepath.Join(dir, "p.sock"), &Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(tb, err)
	recv = linktest.NewCounter(srv, nil)
	require.NoError(tb, srv.Start(recv))
	require.NoError(tb, cli.Start(linktest.NewCounter(cli, nil)))
	tb.Cleanup(func() { cli.Close(); srv.Close() })
	require.Eventually(tb, srv.Up, waitTimeout, time.Millisecond, "the server accepts the client")
	return cli, srv, recv
}

// TestAllocs: transmitting and receiving a batch does not allocate in steady state.
func TestAllocs(t *testing.T) {
	a, _, recv := linkPair(t)
	frames := make([]link.Frame, 16)
	for i := range frames {
		f := testFrame(1514, byte(i))
		frames[i] = link.Frame{Segments: [][]byte{f[:14], f[14:]}}
	}
	run := func() {
		n, err := a.Transmit(frames)
		if err != nil || n != len(frames) {
			panic(err)
		}
		if err := recv.Wait(len(frames)); err != nil {
			panic(err)
		}
	}
	run() // warm up the pool
	r := allocs.Measure(200, 0, run).Per(len(frames), "frames")
	require.Zero(t, r.Mallocs, "%v", r)
}

// BenchmarkThroughput measures frames/s from one link to another over a UNIX socket, in
// batches of 32 frames of the given size.
func BenchmarkThroughput(b *testing.B) {
	for _, size := range []int{60, 1514, 9014} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			a, _, recv := linkPair(b)
			frames := make([]link.Frame, 32)
			for i := range frames {
				frames[i] = link.Frame{Segments: [][]byte{testFrame(size, byte(i))}}
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan error, 1)
			go func() { done <- recv.Wait(b.N) }()
			for sent := 0; sent < b.N; {
				n := min(len(frames), b.N-sent)
				if _, err := a.Transmit(frames[:n]); err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// TestManyLargeFrames: a burst of frames larger than the MTU, more than the pool has large
// buffers for and all in the read buffer at once, is delivered in several batches instead of
// waiting for buffers that the undelivered batch itself holds.
func TestManyLargeFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "large.sock")
	l, err := Listen("unix", path, quietConfig(t))
	require.NoError(t, err)
	r := start(t, l)
	var want [][]byte
	var stream []byte
	for i := range 3*largeBufs + 5 {
		f := testFrame(1600, byte(i)) // larger than MTU 1500 + 18: a large buffer each
		want = append(want, f)
		stream = append(stream, record(f)...)
	}
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	r.WaitStates(t, true)
	_, err = c.Write(stream)
	require.NoError(t, err)
	require.Equal(t, want, waitFrames(t, r, len(want)))
	require.LessOrEqual(t, l.rx.pool.classes[1].n, largeBufs)
}
