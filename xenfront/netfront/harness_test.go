package netfront_test

import (
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/xenfront/xentest"
)

// waitTimeout bounds the waits of these tests that no Recorder makes.
const waitTimeout = linktest.DefaultTimeout

// rig is netfront against a simulated netback whose outer link is one end of a pipe; the
// test drives the other end (peer). front and peerRec record what each receives.
type rig struct {
	lb      *xentest.Loopback
	peer    *pipe.Link
	front   *linktest.Recorder
	peerRec *linktest.Recorder
}

func newRig(tb testing.TB, pcfg *pipe.Config, lcfg *xentest.LoopbackConfig) *rig {
	tb.Helper()
	lb, peer := openRig(tb, pcfg, lcfg)
	r := &rig{lb: lb, peer: peer, front: linktest.NewRecorder(lb, nil), peerRec: linktest.NewRecorder(peer, nil)}
	require.NoError(tb, lb.Start(r.front))
	require.NoError(tb, peer.Start(r.peerRec))
	return r
}

// countingRig is a rig with Counters in place of the Recorders, for allocation tests and
// benchmarks, where the Recorders' copies would be measured too.
type countingRig struct {
	lb        *xentest.Loopback
	peer      *pipe.Link
	front     *linktest.Counter
	peerCount *linktest.Counter
}

func newCountingRig(tb testing.TB, pcfg *pipe.Config, lcfg *xentest.LoopbackConfig) *countingRig {
	tb.Helper()
	lb, peer := openRig(tb, pcfg, lcfg)
	r := &countingRig{lb: lb, peer: peer, front: linktest.NewCounter(lb, nil), peerCount: linktest.NewCounter(peer, nil)}
	require.NoError(tb, lb.Start(r.front))
	require.NoError(tb, peer.Start(r.peerCount))
	return r
}

// openRig opens netfront against a simulated netback whose outer link is one end of a pipe,
// and returns it with the pipe's other end, neither started; both are closed when tb ends.
func openRig(tb testing.TB, pcfg *pipe.Config, lcfg *xentest.LoopbackConfig) (*xentest.Loopback, *pipe.Link) {
	tb.Helper()
	a, b, err := pipe.New(pcfg)
	require.NoError(tb, err)
	lb, err := xentest.OpenLoopback(a, quiet(lcfg))
	require.NoError(tb, err)
	tb.Cleanup(func() {
		lb.Close()
		b.Close()
	})
	return lb, b
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
