package netstack_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
)

// twoStacks joins two stacks with static addresses 10.0.0.1/24 and 10.0.0.2/24 (and
// fd00::1/64, fd00::2/64) over an in-memory link pair.
func twoStacks(t testing.TB, mtu int, features link.Features) (a, b *netstack.Stack) {
	t.Helper()
	la, lb := newChanPair(mtu, features)
	a, err := netstack.New(nil)
	require.NoError(t, err)
	b, err = netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	_, err = a.AddNIC(la, &netstack.NICConfig{Addresses: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fd00::1/64")}})
	require.NoError(t, err)
	_, err = b.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("fd00::2/64")}})
	require.NoError(t, err)
	return a, b
}

func TestTCPBothFamilies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features link.Features
		server   string
	}{
		{"ipv4", 0, "10.0.0.2:80"},
		{"ipv6", 0, "[fd00::2]:80"},
		{"ipv4-tso", link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6 | link.FeatureRxCsum | link.FeatureRxGRO, "10.0.0.2:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoStacks(t, 1500, tc.features)
			ln, err := b.Listen("tcp", ":80")
			require.NoError(t, err)
			defer ln.Close()

			payload := make([]byte, 4<<20)
			rand.Read(payload)
			want := sha256.Sum256(payload)
			got := make(chan [32]byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- [32]byte{}
					return
				}
				defer c.Close()
				h := sha256.New()
				io.Copy(h, c)
				var sum [32]byte
				copy(sum[:], h.Sum(nil))
				got <- sum
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := a.Dial(ctx, "tcp", tc.server)
			require.NoError(t, err)
			_, err = c.Write(payload)
			require.NoError(t, err)
			require.NoError(t, c.Close())
			require.Equal(t, want, <-got)
		})
	}
}

func TestUDPPacketConn(t *testing.T) {
	a, b := twoStacks(t, 1500, 0)
	pc, err := b.ListenPacket("udp", "10.0.0.2:5353")
	require.NoError(t, err)
	defer pc.Close()
	c, err := a.Dial(context.Background(), "udp", "10.0.0.2:5353")
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf[:n]))
	_, err = pc.WriteTo([]byte("pong"), from)
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "pong", string(buf[:n]))
}

func TestDialErrorsAreOpErrors(t *testing.T) {
	a, _ := twoStacks(t, 1500, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := a.Dial(ctx, "tcp", "10.0.0.2:81") // nothing listens: RST
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "dial", oe.Op)
	_, err = a.Dial(ctx, "sctp", "10.0.0.2:81")
	require.ErrorAs(t, err, &oe)
}

func TestCloseEndsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		la, lb := newChanPair(1500, 0)
		a, err := netstack.New(nil)
		require.NoError(t, err)
		_, err = a.AddNIC(la, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
		require.NoError(t, err)
		ln, err := a.Listen("tcp", ":80")
		require.NoError(t, err)
		_ = ln
		require.NoError(t, a.Close())
		require.NoError(t, a.Close(), "Close is idempotent")
		lb.Close()
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 5*time.Second, 20*time.Millisecond,
		"goroutines before %d, after %d", before, runtime.NumGoroutine())
}

// TestWaitConfiguredHonoursDoneContext: a static address is there at once, yet a context
// already done is an error, so a caller's deadline is never silently overrun.
func TestWaitConfiguredHonoursDoneContext(t *testing.T) {
	la, lb := newChanPair(1500, 0)
	t.Cleanup(func() { lb.Close() })
	s, err := netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	nic, err := s.AddNIC(la, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	require.NoError(t, err)

	p, err := nic.WaitConfigured(context.Background())
	require.NoError(t, err)
	require.Equal(t, netip.MustParsePrefix("10.0.0.1/24"), p)

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err = nic.WaitConfigured(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
