package virtiotest_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// virtioPair joins two stacks over a pipe: 10.0.0.1 behind the virtio driver and the device
// model (whose wire is pipe end a), 10.0.0.2 directly on pipe end b.
func virtioPair(tb testing.TB, pcfg *pipe.Config, lcfg *virtiotest.LoopbackConfig) (s1, s2 *netstack.Stack, l *virtiotest.Loopback) {
	tb.Helper()
	a, b, err := pipe.New(pcfg)
	require.NoError(tb, err)
	l, err = virtiotest.NewLoopback(a, lcfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { l.Close(); b.Close() })
	s1, s2 = stacktest.Pair(tb, l, b)
	return s1, s2, l
}

// TestStackTransfer runs TCP in both directions between a stack behind the virtio-net driver
// and device model and a stack on a pipe, with offloads on and off, over both transports.
func TestStackTransfer(t *testing.T) {
	size := 16 << 20
	if testing.Short() {
		size = 1 << 20
	}
	for _, tc := range []struct {
		name      string
		pipe      pipe.Config
		transport virtiotest.TransportKind
		driver    *virtio.NetConfig
		wantFeat  link.Features
		packed    bool
	}{
		{"mmio/packed/offloads", pipe.Config{Features: stacktest.Offloads}, virtiotest.TransportMMIO, nil, stacktest.Offloads, true},
		{"pci/packed/no-offloads", pipe.Config{}, virtiotest.TransportPCI, nil, link.FeatureRxCsum, true},
		{"mmio/offloads", pipe.Config{Features: stacktest.Offloads}, virtiotest.TransportMMIO, nil, stacktest.Offloads, false},
		{"pci/offloads", pipe.Config{Features: stacktest.Offloads}, virtiotest.TransportPCI, nil, stacktest.Offloads, false},
		{"mmio/no-offloads", pipe.Config{}, virtiotest.TransportMMIO, nil, link.FeatureRxCsum, false},
		// The pipe delivers partial checksums the minimal driver did not negotiate: the
		// device model completes them.
		{"pci/driver-minimal", pipe.Config{Features: link.FeatureTxCsum | link.FeatureRxCsum}, virtiotest.TransportPCI,
			&virtio.NetConfig{Features: virtio.NetFMAC}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			func() {
				s1, s2, l := virtioPair(t, &tc.pipe, &virtiotest.LoopbackConfig{
					Transport: tc.transport, Driver: tc.driver, Device: &virtiotest.NetConfig{Packed: tc.packed}})
				require.Equal(t, tc.packed, l.NegotiatedFeatures()&virtio.FeatureRingPacked != 0)
				require.Equal(t, tc.wantFeat, l.Features())
				start := time.Now()
				// size bytes each way: the receiver on s2 replies once the data ends.
				stacktest.Transfer(t, s1, s2, "10.0.0.2:5001", size, &stacktest.Options{
					Chunk: 32 << 10, Seed: [32]byte{1}, Reply: true})
				el := time.Since(start)
				st := l.Stats()
				t.Logf("%s: 2 x %d MiB in %v; driver tx %d frames, rx %d frames, dropped rx %d tx %d",
					tc.name, size>>20, el.Round(time.Millisecond), st.TxFrames, st.RxFrames, st.RxDropped, st.TxDropped)
				require.NoError(t, l.Err())
				require.NoError(t, l.Device.Err())
				require.Zero(t, st.RxDropped)
			}()
			// The stacks and links are closed by Cleanup after this subtest returns;
			// TestLoopbackClose checks for leaks.
			_ = before
		})
	}
}

// TestLoopbackClose checks that closing the loopback ends every goroutine of driver, device
// model and backend.
func TestLoopbackClose(t *testing.T) {
	before := runtime.NumGoroutine()
	a, b, err := pipe.New(nil)
	require.NoError(t, err)
	l, err := virtiotest.NewLoopbackDevice(a)
	require.NoError(t, err)
	r := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(r))
	require.True(t, l.Up())
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	require.NoError(t, b.Close())
	r.Check(t)
	_, err = l.Transmit([]link.Frame{{Segments: [][]byte{make([]byte, 60)}}})
	require.ErrorIs(t, err, link.ErrClosed)
	leaktest.Settle(t, before)
}

var _ net.Conn = (net.Conn)(nil)
