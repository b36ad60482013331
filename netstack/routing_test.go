package netstack_test

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/netstack"
)

// TestRouterBetweenTwoNICs joins hosts A (10.1.0.2) and B (10.2.0.2) through a router stack
// with one NIC on each subnet: A and B reach each other only through the router's routes and
// forwarding, over IPv4 and IPv6, with TCP and ICMP echo.
func TestRouterBetweenTwoNICs(t *testing.T) {
	if israce.Enabled {
		// gVisor's IPv4 forwarding (forwardPacketWithRoute) reads the TTL through a slice of
		// the packet's header taken before DeepCopyForForwarding, whose copy-on-write of the
		// shared buffer sends that memory back to the pool first: the race detector rightly
		// reports the read. The bug is in gVisor, on the forwarding path only; see
		// Config.Forwarding.
		t.Skip("gVisor's IPv4 forwarding reads a released buffer; see the comment")
	}
	ra, al := newChanPair(1500, 0)
	rb, bl := newChanPair(1500, 0)
	router, err := netstack.New(&netstack.Config{Forwarding: true})
	require.NoError(t, err)
	a, err := netstack.New(nil)
	require.NoError(t, err)
	b, err := netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close(); router.Close() })
	pfx := netip.MustParsePrefix
	_, err = router.AddNIC(ra, &netstack.NICConfig{Name: "to-a", Addresses: []netip.Prefix{pfx("10.1.0.1/24"), pfx("fd01::1/64")}})
	require.NoError(t, err)
	_, err = router.AddNIC(rb, &netstack.NICConfig{Name: "to-b", Addresses: []netip.Prefix{pfx("10.2.0.1/24"), pfx("fd02::1/64")}})
	require.NoError(t, err)
	an, err := a.AddNIC(al, &netstack.NICConfig{Addresses: []netip.Prefix{pfx("10.1.0.2/24"), pfx("fd01::2/64")}, Gateway: netip.MustParseAddr("10.1.0.1")})
	require.NoError(t, err)
	an.AddRoute(netip.Prefix{}, netip.MustParseAddr("fd01::1"))
	bn, err := b.AddNIC(bl, &netstack.NICConfig{Addresses: []netip.Prefix{pfx("10.2.0.2/24"), pfx("fd02::2/64")}, Gateway: netip.MustParseAddr("10.2.0.1")})
	require.NoError(t, err)
	bn.AddRoute(netip.Prefix{}, netip.MustParseAddr("fd02::1"))

	ln, err := b.Listen("tcp", ":7")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dst := range []string{"10.2.0.2", "fd02::2"} {
		rtt, err := a.Ping(ctx, netip.MustParseAddr(dst))
		require.NoError(t, err, "ping %s", dst)
		require.Positive(t, rtt)

		c, err := a.Dial(ctx, "tcp", netip.AddrPortFrom(netip.MustParseAddr(dst), 7).String())
		require.NoError(t, err, "dial %s", dst)
		_, err = c.Write([]byte("through the router"))
		require.NoError(t, err)
		buf := make([]byte, 18)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		require.Equal(t, "through the router", string(buf))
		c.Close()
	}
	st := router.Stats()
	require.Len(t, st.NICs, 2)
	require.Positive(t, st.NICs[0].RxPackets)
	require.Positive(t, st.NICs[1].TxPackets)
}

func TestPingUnreachableTimesOut(t *testing.T) {
	a, _ := twoStacks(t, 1500, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := a.Ping(ctx, netip.MustParseAddr("10.0.0.77")) // nobody answers ARP
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
