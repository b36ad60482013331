package pcap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// udpFrame returns an Ethernet/IPv4/UDP frame with a payload of n bytes numbered seq.
func udpFrame(src, dst net.HardwareAddr, seq uint16, n int) []byte {
	b := make([]byte, 14+20+8+n)
	copy(b, dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	binary.BigEndian.PutUint16(ip[4:], seq)
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:], []byte{10, 0, 0, 1})
	copy(ip[16:], []byte{10, 0, 0, 2})
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	s = s>>16 + s&0xffff
	s += s >> 16
	binary.BigEndian.PutUint16(ip[10:], ^uint16(s))
	udp := b[34:42]
	binary.BigEndian.PutUint16(udp[0:], 1000)
	binary.BigEndian.PutUint16(udp[2:], 2000)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+n)) // checksum 0: none
	for i := 42; i < len(b); i++ {
		b[i] = byte(seq) + byte(i)
	}
	return b
}

// capturedPipe returns a pipe whose end a is wrapped in a capture to w, both ends started.
func capturedPipe(t *testing.T, cfg *pipe.Config, w interface {
	Write([]byte) (int, error)
}, opts *Config) (*Link, *pipe.Link, *linktest.Counter, *linktest.Counter) {
	t.Helper()
	a, b, err := pipe.New(cfg)
	require.NoError(t, err)
	c := New(a, w, opts)
	sa, sb := linktest.NewCounter(c, nil), linktest.NewCounter(b, nil)
	require.NoError(t, c.Start(sa))
	require.NoError(t, b.Start(sb))
	t.Cleanup(func() {
		c.Close()
		b.Close()
	})
	return c, b, sa, sb
}

// exchange sends out frames from c to b and back frames from b to c, and waits for them.
func exchange(t *testing.T, c *Link, b *pipe.Link, sa, sb *linktest.Counter, out, back [][]byte) {
	t.Helper()
	for _, f := range out {
		_, err := c.Transmit([]link.Frame{{Segments: [][]byte{f[:20], f[20:]}}})
		require.NoError(t, err)
	}
	require.NoError(t, sb.Wait(len(out)))
	for _, f := range back {
		_, err := b.Transmit([]link.Frame{{Segments: [][]byte{f}}})
		require.NoError(t, err)
	}
	require.NoError(t, sa.Wait(len(back)))
}

type record struct {
	sec, frac, incl, orig uint32
	data                  []byte
}

// parsePcap parses a classic little-endian libpcap file, checking every length.
func parsePcap(t *testing.T, b []byte) (magic, snaplen uint32, recs []record) {
	t.Helper()
	require.GreaterOrEqual(t, len(b), FileHeaderLen)
	magic = binary.LittleEndian.Uint32(b)
	require.Contains(t, []uint32{MagicMicroseconds, MagicNanoseconds}, magic)
	require.Equal(t, uint16(2), binary.LittleEndian.Uint16(b[4:]), "major version")
	require.Equal(t, uint16(4), binary.LittleEndian.Uint16(b[6:]), "minor version")
	snaplen = binary.LittleEndian.Uint32(b[16:])
	require.Equal(t, uint32(LinkTypeEthernet), binary.LittleEndian.Uint32(b[20:]))
	b = b[FileHeaderLen:]
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), RecordHeaderLen, "truncated record header")
		r := record{
			sec:  binary.LittleEndian.Uint32(b),
			frac: binary.LittleEndian.Uint32(b[4:]),
			incl: binary.LittleEndian.Uint32(b[8:]),
			orig: binary.LittleEndian.Uint32(b[12:]),
		}
		require.LessOrEqual(t, r.incl, snaplen)
		require.LessOrEqual(t, r.incl, r.orig)
		require.GreaterOrEqual(t, uint32(len(b)-RecordHeaderLen), r.incl, "truncated record")
		r.data = b[RecordHeaderLen : RecordHeaderLen+r.incl]
		b = b[RecordHeaderLen+r.incl:]
		recs = append(recs, r)
	}
	return magic, snaplen, recs
}

func TestCaptureBothDirectionsParsed(t *testing.T) {
	for _, nano := range []bool{false, true} {
		var buf bytes.Buffer
		feat := link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureRxCsum | link.FeatureRxGRO
		c, b, sa, sb := capturedPipe(t, &pipe.Config{Features: feat}, &buf, &Config{Nanoseconds: nano})
		var out, back [][]byte
		for i := 0; i < 50; i++ {
			out = append(out, udpFrame(c.MAC(), b.MAC(), uint16(i), 10+i*20))
			back = append(back, udpFrame(b.MAC(), c.MAC(), uint16(1000+i), 5+i))
		}
		// A GSO-sized frame is captured whole.
		out = append(out, udpFrame(c.MAC(), b.MAC(), 50, 1400))
		big := make([]byte, link.MaxGSOSize)
		copy(big, out[0])
		start := time.Now()
		exchange(t, c, b, sa, sb, out, back)
		_, err := c.Transmit([]link.Frame{{Segments: [][]byte{big},
			Offload: link.Offload{GSOType: link.GSOTCPv4, GSOSize: 1448, HdrLen: 42}}})
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.NoError(t, c.Close(), "idempotent")

		magic, snaplen, recs := parsePcap(t, buf.Bytes())
		if nano {
			require.Equal(t, uint32(MagicNanoseconds), magic)
		} else {
			require.Equal(t, uint32(MagicMicroseconds), magic)
		}
		require.Equal(t, uint32(DefaultSnaplen), snaplen)
		require.Len(t, recs, len(out)+len(back)+1)
		var gotOut, gotBack [][]byte
		for _, r := range recs {
			require.Equal(t, r.incl, r.orig, "nothing cut")
			ts := time.Unix(int64(r.sec), int64(r.frac)*map[bool]int64{false: 1000, true: 1}[nano])
			require.WithinDuration(t, start, ts, time.Minute)
			if nano {
				require.Less(t, r.frac, uint32(1e9))
			} else {
				require.Less(t, r.frac, uint32(1e6))
			}
			if bytes.Equal(r.data[6:12], c.MAC()) {
				gotOut = append(gotOut, r.data)
			} else {
				gotBack = append(gotBack, r.data)
			}
		}
		require.True(t, bytes.Equal(big, gotOut[len(gotOut)-1]), "super-frame")
		gotOut = gotOut[:len(gotOut)-1]
		require.Equal(t, len(out), len(gotOut))
		for i := range out {
			require.True(t, bytes.Equal(out[i], gotOut[i]), "sent frame %d", i)
		}
		require.Equal(t, len(back), len(gotBack))
		for i := range back {
			require.True(t, bytes.Equal(back[i], gotBack[i]), "received frame %d", i)
		}
		st := c.CaptureStats()
		require.Equal(t, uint64(len(recs)), st.Frames)
		require.Zero(t, st.Dropped)
		require.Equal(t, uint64(buf.Len()-FileHeaderLen), st.Bytes)
	}
}

func TestSnaplenCuts(t *testing.T) {
	var buf bytes.Buffer
	c, b, sa, sb := capturedPipe(t, nil, &buf, &Config{Snaplen: 100})
	f := udpFrame(c.MAC(), b.MAC(), 1, 500)
	exchange(t, c, b, sa, sb, [][]byte{f}, nil)
	require.NoError(t, c.Flush())
	_, snaplen, recs := parsePcap(t, buf.Bytes())
	require.Equal(t, uint32(100), snaplen)
	require.Len(t, recs, 1)
	require.Equal(t, uint32(100), recs[0].incl)
	require.Equal(t, uint32(len(f)), recs[0].orig)
	require.Equal(t, f[:100], recs[0].data)
}

func TestTsharkReadsCapture(t *testing.T) {
	tshark := peers.Program(t, "tshark", "tshark")
	path := filepath.Join(t.TempDir(), "capture.pcap")
	file, err := os.Create(path)
	require.NoError(t, err)
	defer file.Close()
	bw := bufio.NewWriter(file)
	macA := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	macB := net.HardwareAddr{0x02, 0x66, 0x77, 0x88, 0x99, 0xaa}
	c, b, sa, sb := capturedPipe(t, &pipe.Config{MACA: macA, MACB: macB}, bw, &Config{Nanoseconds: true})
	var out, back [][]byte
	for i := 0; i < 30; i++ {
		out = append(out, udpFrame(macA, macB, uint16(i), 100+i))
	}
	for i := 0; i < 12; i++ {
		back = append(back, udpFrame(macB, macA, uint16(100+i), 1400))
	}
	exchange(t, c, b, sa, sb, out, back)
	require.NoError(t, c.Close(), "Close flushes the bufio.Writer")
	require.NoError(t, file.Close())

	cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "eth.src", "-e", "ip.id", "-e", "udp.length")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // tshark writes its profile there
	outText, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Logf("tshark stderr: %s", ee.Stderr)
	}
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(outText)), "\n")
	require.Len(t, lines, len(out)+len(back), "tshark counts every frame")
	fromA, fromB := 0, 0
	for _, line := range lines {
		fields := strings.Split(line, "\t")
		require.Len(t, fields, 3, "line %q", line)
		switch fields[0] {
		case macA.String():
			require.Equal(t, "0x"+hex4(uint16(fromA)), fields[1], "ip.id of frame %d from A", fromA)
			fromA++
		case macB.String():
			require.Equal(t, "1408", fields[2])
			fromB++
		default:
			t.Fatalf("unexpected eth.src in %q", line)
		}
	}
	require.Equal(t, len(out), fromA)
	require.Equal(t, len(back), fromB)
}

func hex4(v uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15]})
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	w.n += len(b)
	w.mu.Unlock()
	return len(b), nil
}

func TestStalledWriterDoesNotHoldUpLink(t *testing.T) {
	before := runtime.NumGoroutine()
	w := &blockingWriter{release: make(chan struct{})}
	a, b, err := pipe.New(nil)
	require.NoError(t, err)
	c := New(a, w, &Config{BufferSize: 64 << 10})
	sb := linktest.NewCounter(b, nil)
	require.NoError(t, c.Start(linktest.NewCounter(c, nil)))
	require.NoError(t, b.Start(sb))

	f := udpFrame(c.MAC(), b.MAC(), 1, 1400)
	const count = 500 // 700 kB, ten times the ring
	for i := 0; i < count; i++ {
		_, err := c.Transmit([]link.Frame{{Segments: [][]byte{f}}})
		require.NoError(t, err)
	}
	require.NoError(t, sb.Wait(count), "the link carries every frame although the capture writer is stuck")
	st := c.CaptureStats()
	require.Positive(t, st.Dropped)
	require.Equal(t, uint64(count), st.Frames+st.Dropped)

	close(w.release) // let the writer finish so Close can flush and return
	require.NoError(t, c.Close())
	require.NoError(t, b.Close())
	require.ErrorIs(t, c.Flush(), ErrClosed)
	w.mu.Lock()
	require.Equal(t, FileHeaderLen+int(st.Frames)*(RecordHeaderLen+len(f)), w.n)
	w.mu.Unlock()
	leaktest.Settle(t, before)
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.n > 0 {
		return 0, errors.New("disk full")
	}
	w.n += len(b)
	return len(b), nil
}

func TestWriteErrorStopsCaptureNotLink(t *testing.T) {
	w := &failingWriter{}
	c, b, sa, sb := capturedPipe(t, nil, w, nil)
	require.NoError(t, c.Flush()) // the file header goes out
	var out [][]byte
	for i := 0; i < 20; i++ {
		out = append(out, udpFrame(c.MAC(), b.MAC(), uint16(i), 100))
	}
	exchange(t, c, b, sa, sb, out, nil)
	err := c.Flush()
	require.ErrorContains(t, err, "disk full")
	require.ErrorIs(t, c.Err(), err)
	exchange(t, c, b, sa, linktest.NewCounter(b, nil), nil, nil)
	require.ErrorContains(t, c.Close(), "disk full")
}

func TestNoAllocsPerFrame(t *testing.T) {
	c, b, _, sb := capturedPipe(t, nil, discard{}, nil)
	frames := make([]link.Frame, 16)
	for i := range frames {
		frames[i] = link.Frame{Segments: [][]byte{udpFrame(c.MAC(), b.MAC(), uint16(i), 1400)}}
	}
	send := func() {
		if _, err := c.Transmit(frames); err != nil {
			panic(err)
		}
		if err := sb.Wait(len(frames)); err != nil {
			panic(err)
		}
		// Wait for the capture's writer to drain the ring, as it would on an idle CPU, or
		// the ring fills and frames go uncaptured. Yielding once is not enough on a loaded
		// machine: the writer may not run for several sends.
		if err := c.Flush(); err != nil {
			panic(err)
		}
	}
	allocs.NoGC(t) // a collection during the warm-up empties the pools the path refills
	for i := 0; i < 100; i++ {
		send()
	}
	r := allocs.Measure(200, 0, send).Per(len(frames), "frames")
	require.Zero(t, r.Mallocs, "%v", r)
	require.NoError(t, c.Flush())
	require.Zero(t, c.CaptureStats().Dropped)
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func BenchmarkCaptureTransmit(b *testing.B) {
	a, p, err := pipe.New(nil)
	require.NoError(b, err)
	c := New(a, discard{}, nil)
	s := linktest.NewCounter(p, nil)
	require.NoError(b, p.Start(s))
	require.NoError(b, c.Start(linktest.NewCounter(c, nil)))
	defer c.Close()
	defer p.Close()
	frames := make([]link.Frame, 32)
	for i := range frames {
		frames[i] = link.Frame{Segments: [][]byte{udpFrame(c.MAC(), p.MAC(), uint16(i), 1458)}}
	}
	for range 100 { // warm up the pipe's buffers
		if _, err := c.Transmit(frames); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frames) * 1500))
	for b.Loop() {
		if _, err := c.Transmit(frames); err != nil {
			b.Fatal(err)
		}
	}
}
