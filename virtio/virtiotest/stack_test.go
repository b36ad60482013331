package virtiotest_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// offloads are the pipe features that carry checksum-less TSO/GRO super-frames.
const offloads = netstack.FeatureTxCsum | netstack.FeatureTxTSO4 | netstack.FeatureTxTSO6 |
	netstack.FeatureRxCsum | netstack.FeatureRxGRO

// virtioPair joins two stacks over a pipe: 10.0.0.1 behind the virtio driver and the device
// model (whose wire is pipe end a), 10.0.0.2 directly on pipe end b.
func virtioPair(tb testing.TB, pcfg *pipe.Config, lcfg *virtiotest.LoopbackConfig) (s1, s2 *netstack.Stack, l *virtiotest.Loopback) {
	tb.Helper()
	a, b, err := pipe.New(pcfg)
	require.NoError(tb, err)
	l, err = virtiotest.NewLoopback(a, lcfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { l.Close(); b.Close() })
	s1, err = netstack.New(nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { s1.Close() })
	s2, err = netstack.New(nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { s2.Close() })
	_, err = s1.AddNIC(l, &netstack.NICConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, NoDHCP: true})
	require.NoError(tb, err)
	_, err = s2.AddNIC(b, &netstack.NICConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}, NoDHCP: true})
	require.NoError(tb, err)
	return s1, s2, l
}

// transfer sends size bytes in each direction between the stacks over TCP (s1 dials s2) and
// checks their SHA-256 digests.
func transfer(t *testing.T, s1, s2 *netstack.Stack, size int) {
	ln, err := s2.Listen("tcp", ":5001")
	require.NoError(t, err)
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
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		// Send the same amount back so both directions carry bulk data.
		if err == nil {
			_, r.err = io.Copy(c, io.LimitReader(rand.NewChaCha8([32]byte{9}), int64(size)))
		}
		done <- r
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := s1.Dial(ctx, "tcp", "10.0.0.2:5001")
	require.NoError(t, err)
	defer c.Close()
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(c, h), io.LimitReader(rand.NewChaCha8([32]byte{1}), int64(size)))
	require.NoError(t, err)
	require.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
	back := sha256.New()
	wantBack := sha256.New()
	_, _ = io.Copy(wantBack, io.LimitReader(rand.NewChaCha8([32]byte{9}), int64(size)))
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	nb, err := io.Copy(back, c)
	require.NoError(t, err)
	require.Equal(t, int64(size), nb)
	require.Equal(t, wantBack.Sum(nil), back.Sum(nil), "SHA-256 of the reply")
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("server did not finish")
	}
	require.NoError(t, r.err)
	require.Equal(t, int64(size), r.n)
	require.Equal(t, [32]byte(h.Sum(nil)), r.sum, "SHA-256 of what arrived")
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
		transport virtiotest.Transport
		driver    *virtio.NetConfig
		wantFeat  netstack.Features
		packed    bool
	}{
		{"mmio/packed/offloads", pipe.Config{Features: offloads}, virtiotest.TransportMMIO, nil, offloads, true},
		{"pci/packed/no-offloads", pipe.Config{}, virtiotest.TransportPCI, nil, netstack.FeatureRxCsum, true},
		{"mmio/offloads", pipe.Config{Features: offloads}, virtiotest.TransportMMIO, nil, offloads, false},
		{"pci/offloads", pipe.Config{Features: offloads}, virtiotest.TransportPCI, nil, offloads, false},
		{"mmio/no-offloads", pipe.Config{}, virtiotest.TransportMMIO, nil, netstack.FeatureRxCsum, false},
		// The pipe delivers partial checksums the minimal driver did not negotiate: the
		// device model completes them.
		{"pci/driver-minimal", pipe.Config{Features: netstack.FeatureTxCsum | netstack.FeatureRxCsum}, virtiotest.TransportPCI,
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
				transfer(t, s1, s2, size)
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
	var r sink
	require.NoError(t, l.Start(&r))
	require.True(t, l.Up())
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	require.NoError(t, b.Close())
	_, err = l.Transmit([]netstack.Frame{{Segments: [][]byte{make([]byte, 60)}}})
	require.ErrorIs(t, err, netstack.ErrClosed)
	leaktest.Settle(t, before)
}

// sink is a Receiver that releases everything at once.
type sink struct{ l netstack.Link }

func (s *sink) DeliverFrames(f []netstack.Frame) {
	if s.l != nil {
		s.l.Release(f)
	}
}
func (s *sink) LinkStateChanged(bool) {}

var _ net.Conn = (net.Conn)(nil)
