package netfront_test

import (
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/xenfront/xentest"
)

// sink is a Receiver that counts frames, optionally keeps a copy of the last one, and
// releases everything at once, as the netstack adapter does.
type sink struct {
	link   link.Link
	frames atomic.Int64
	bytes  atomic.Int64
	mu     sync.Mutex
	last   []byte
	keep   bool
}

func (s *sink) DeliverFrames(fs []link.Frame) {
	for i := range fs {
		s.frames.Add(1)
		s.bytes.Add(int64(fs[i].Len()))
		if s.keep {
			s.mu.Lock()
			s.last = s.last[:0]
			for _, seg := range fs[i].Segments {
				s.last = append(s.last, seg...)
			}
			s.mu.Unlock()
		}
	}
	s.link.Release(fs)
}

func (s *sink) LinkStateChanged(bool) {}

// rig is netfront against a simulated netback whose outer link is one end of a pipe; the
// test drives the other end (peer).
type rig struct {
	lb       *xentest.Loopback
	peer     *pipe.Link
	front    *sink
	peerSink *sink
}

func newRig(tb testing.TB, pcfg *pipe.Config, lcfg *xentest.LoopbackConfig) *rig {
	tb.Helper()
	a, b, err := pipe.New(pcfg)
	require.NoError(tb, err)
	lb, err := xentest.OpenLoopback(a, quiet(lcfg))
	require.NoError(tb, err)
	r := &rig{lb: lb, peer: b, front: &sink{link: lb}, peerSink: &sink{link: b}}
	require.NoError(tb, lb.Start(r.front))
	require.NoError(tb, b.Start(r.peerSink))
	tb.Cleanup(func() {
		lb.Close()
		b.Close()
	})
	return r
}

// udpFrame returns an Ethernet/IPv4/UDP frame of n bytes (n >= 42) with a payload pattern.
func udpFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	copy(f[0:6], []byte{0x00, 0x16, 0x3e, 0, 0, 1})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	binary.BigEndian.PutUint16(f[16:], uint16(n-14))
	f[22] = 64
	f[23] = 17
	copy(f[26:30], []byte{10, 0, 0, 2})
	copy(f[30:34], []byte{10, 0, 0, 1})
	binary.BigEndian.PutUint16(f[34:], 5000)
	binary.BigEndian.PutUint16(f[36:], 5001)
	binary.BigEndian.PutUint16(f[38:], uint16(n-34))
	for i := 42; i < n; i++ {
		f[i] = seed + byte(i)
	}
	return f
}

// quiet returns cfg with logging discarded: misbehaving back ends are expected here.
func quiet(cfg *xentest.LoopbackConfig) *xentest.LoopbackConfig {
	c := xentest.LoopbackConfig{}
	if cfg != nil {
		c = *cfg
	}
	c.Netback.Logger = slog.New(slog.DiscardHandler)
	return &c
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
