package netfront_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/xenfront/xentest"
)

const offloads = netstack.FeatureTxCsum | netstack.FeatureTxTSO4 | netstack.FeatureTxTSO6 |
	netstack.FeatureRxCsum | netstack.FeatureRxGRO

// xenPair joins stack s1 (10.0.0.1) behind netfront and a simulated netback to stack s2
// (10.0.0.2) over a pipe. The addresses exist only inside the two in-process stacks.
func xenPair(tb testing.TB, pcfg *pipe.Config, lcfg *xentest.LoopbackConfig) (s1, s2 *netstack.Stack, lb *xentest.Loopback) {
	tb.Helper()
	a, b, err := pipe.New(pcfg)
	require.NoError(tb, err)
	lb, err = xentest.OpenLoopback(a, quiet(lcfg))
	require.NoError(tb, err)
	s1, err = netstack.New(nil)
	require.NoError(tb, err)
	s2, err = netstack.New(nil)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		s1.Close()
		s2.Close()
		lb.Close()
	})
	_, err = s1.AddNIC(lb, &netstack.NICConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, NoDHCP: true})
	require.NoError(tb, err)
	_, err = s2.AddNIC(b, &netstack.NICConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}, NoDHCP: true})
	require.NoError(tb, err)
	return s1, s2, lb
}

// nextPort gives each transfer its own listening port.
var nextPort atomic.Int32

func init() { nextPort.Store(5000) }

// transfer sends size pseudo-random bytes over TCP from s1 to s2 and returns the SHA-256 of
// what was sent and of what arrived.
func transfer(tb testing.TB, s1, s2 *netstack.Stack, size int) (sent, got [32]byte) {
	tb.Helper()
	port := strconv.Itoa(int(nextPort.Add(1)))
	ln, err := s2.Listen("tcp", ":"+port)
	require.NoError(tb, err)
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		done <- r
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := s1.Dial(ctx, "tcp", "10.0.0.2:"+port)
	require.NoError(tb, err)
	src := rand.NewChaCha8([32]byte{7})
	h := sha256.New()
	buf := make([]byte, 128<<10)
	for n := 0; n < size; n += len(buf) {
		_, _ = src.Read(buf)
		h.Write(buf)
		_, err := c.Write(buf)
		require.NoError(tb, err)
	}
	require.NoError(tb, c.Close())
	copy(sent[:], h.Sum(nil))
	select {
	case r := <-done:
		require.NoError(tb, r.err)
		require.EqualValues(tb, size, r.n)
		return sent, r.sum
	case <-time.After(60 * time.Second):
		tb.Fatal("transfer timed out")
	}
	return
}

// TestStackTransfer moves 16 MiB over TCP from a stack behind netfront, through the simulated
// netback and a pipe, to a second stack, in several configurations of the handshake.
func TestStackTransfer(t *testing.T) {
	for _, tc := range []struct {
		name string
		pcfg pipe.Config
		lcfg xentest.LoopbackConfig
	}{
		{"mtu1500", pipe.Config{}, xentest.LoopbackConfig{NoGSO: true}},
		{"gso", pipe.Config{Features: offloads}, xentest.LoopbackConfig{}},
		{"multiqueue-split", pipe.Config{Features: offloads}, xentest.LoopbackConfig{Queues: 4}},
		{"single-channel", pipe.Config{Features: offloads}, xentest.LoopbackConfig{Netback: xentest.NetbackConfig{NoSplit: true}, DirectStore: true}},
		{"no-sg", pipe.Config{}, xentest.LoopbackConfig{Netback: xentest.NetbackConfig{NoSG: true, NoGSO: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			func() {
				s1, s2, lb := xenPair(t, &tc.pcfg, &tc.lcfg)
				sent, got := transfer(t, s1, s2, 16<<20)
				require.Equal(t, sent, got)
				st := lb.Stats()
				require.NotZero(t, st.TxFrames)
				require.NotZero(t, st.RxFrames)
				require.Zero(t, st.TxErrors)
				require.NoError(t, lb.Err())
				s1.Close()
				s2.Close()
				require.NoError(t, lb.Close())
				require.Zero(t, lb.Hypervisor.Granted(1), "grants left after Close")
				require.Zero(t, lb.Hypervisor.OpenPorts(1)-1*boolInt(!tc.lcfg.DirectStore), "event channels left after Close")
			}()
			leaktest.Settle(t, before)
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
