package netfront_test

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/xenfront/xentest"
)

// xenPair joins stack s1 (10.0.0.1) behind netfront and a simulated netback to stack s2
// (10.0.0.2) over a pipe. The addresses exist only inside the two in-process stacks.
func xenPair(tb testing.TB, pcfg *pipe.Config, lcfg *xentest.LoopbackConfig) (s1, s2 *netstack.Stack, lb *xentest.Loopback) {
	tb.Helper()
	a, b, err := pipe.New(pcfg)
	require.NoError(tb, err)
	lb, err = xentest.OpenLoopback(a, quiet(lcfg))
	require.NoError(tb, err)
	tb.Cleanup(func() { lb.Close() }) // after the stacks
	s1, s2 = stacktest.Pair(tb, lb, b)
	return s1, s2, lb
}

// nextPort gives each transfer its own listening port.
var nextPort atomic.Int32

func init() { nextPort.Store(5000) }

// transfer sends size pseudo-random bytes over TCP from s1 to s2, on a port of its own, and
// checks their SHA-256 digest on arrival.
func transfer(tb testing.TB, s1, s2 *netstack.Stack, size int) {
	tb.Helper()
	addr := "10.0.0.2:" + strconv.Itoa(int(nextPort.Add(1)))
	stacktest.Transfer(tb, s1, s2, addr, size, &stacktest.Options{Seed: [32]byte{7}})
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
		{"gso", pipe.Config{Features: stacktest.Offloads}, xentest.LoopbackConfig{}},
		{"multiqueue-split", pipe.Config{Features: stacktest.Offloads}, xentest.LoopbackConfig{Queues: 4}},
		{"single-channel", pipe.Config{Features: stacktest.Offloads}, xentest.LoopbackConfig{Netback: xentest.NetbackConfig{NoSplit: true}, DirectStore: true}},
		{"no-sg", pipe.Config{}, xentest.LoopbackConfig{Netback: xentest.NetbackConfig{NoSG: true, NoGSO: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			func() {
				s1, s2, lb := xenPair(t, &tc.pcfg, &tc.lcfg)
				transfer(t, s1, s2, 16<<20)
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
