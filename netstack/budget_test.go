package netstack_test

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// budgetPair returns a client stack with the defaults and a server stack with cfg, joined by
// a pipe, and a listener on the server.
func budgetPair(t *testing.T, cfg *netstack.Config) (client, server *netstack.Stack, ln net.Listener) {
	t.Helper()
	a, b, err := pipe.New(nil)
	require.NoError(t, err)
	for i, c := range []*netstack.Config{nil, cfg} {
		s, err := netstack.New(c)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		l := []*pipe.Link{a, b}[i]
		_, err = s.AddNIC(l, &netstack.NICConfig{NoDHCP: true,
			Addresses: []netip.Prefix{netip.MustParsePrefix([]string{"10.0.0.1/24", "10.0.0.2/24"}[i])}})
		require.NoError(t, err)
		if i == 0 {
			client = s
		} else {
			server = s
		}
	}
	ln, err = server.Listen("tcp4", ":80")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return client, server, ln
}

// budgetAccept dials the server from the client and returns the server's end.
func budgetAccept(t *testing.T, client *netstack.Stack, ln net.Listener) (*netstack.TCPConn, net.Conn) {
	t.Helper()
	d, err := client.Dial(t.Context(), "tcp4", "10.0.0.2:80")
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	c, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*netstack.TCPConn), d
}

// TestTCPBufferBudgetShares opens and closes connections on a stack with a 1 MiB budget: each
// connection's share is the budget divided among the open ones, between the default and the
// maximum sizes, and a send buffer grown beyond a share that falls is shrunk to it.
func TestTCPBufferBudgetShares(t *testing.T) {
	client, server, ln := budgetPair(t, &netstack.Config{TCPBufferBudget: 1 << 20,
		TCPSendBuffer: 64 << 10, TCPSendBufferMax: 4 << 20, TCPReceiveBuffer: 64 << 10, TCPReceiveBufferMax: 4 << 20})
	require.Equal(t, 4<<20, netstack.SendShare(server), "no connection yet: the maximum")
	first, _ := budgetAccept(t, client, ln)
	require.Equal(t, 1<<20, netstack.SendShare(server))
	require.Equal(t, 1<<20, netstack.ReceiveShare(server))
	netstack.GrowSendBuffer(first, 1<<20)

	var conns []*netstack.TCPConn
	for range 7 {
		c, _ := budgetAccept(t, client, ln)
		conns = append(conns, c)
	}
	require.Equal(t, 128<<10, netstack.SendShare(server))
	require.Equal(t, 128<<10, netstack.ReceiveShare(server))
	require.Equal(t, 128<<10, netstack.SendBufferSize(first), "not shrunk to its share")

	for range 9 {
		c, _ := budgetAccept(t, client, ln)
		conns = append(conns, c)
	}
	require.Equal(t, 64<<10, netstack.SendShare(server), "below the default: the default")

	for _, c := range conns[2:] {
		require.NoError(t, c.Close())
	}
	require.NoError(t, conns[0].Close())
	require.Error(t, conns[0].Close())
	require.Equal(t, 512<<10, netstack.SendShare(server), "two left open")
}

// TestTCPBufferBudgetBoundsGrowth sends 16 MiB on one connection to a client that reads as
// fast as it can, so that auto-tuning grows the send buffer with the congestion window: with
// a budget of 128 KiB it stops there, without one it grows past it.
func TestTCPBufferBudgetBoundsGrowth(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 32 MiB; skipped with -short")
	}
	for _, tc := range []struct {
		budget int
		bound  bool
	}{{128 << 10, true}, {-1, false}} {
		client, _, ln := budgetPair(t, &netstack.Config{TCPBufferBudget: tc.budget})
		c, d := budgetAccept(t, client, ln)
		done := make(chan int64)
		go func() {
			n, _ := io.Copy(io.Discard, d)
			done <- n
		}()
		chunk := make([]byte, 256<<10)
		largest := 0
		for range 64 {
			_, err := c.Write(chunk)
			require.NoError(t, err)
			largest = max(largest, netstack.SendBufferSize(c))
		}
		require.NoError(t, c.CloseWrite())
		require.Equal(t, int64(64*len(chunk)), <-done)
		if tc.bound {
			require.LessOrEqual(t, largest, 128<<10)
		} else {
			require.Greater(t, largest, 128<<10, "auto-tuning did not grow the buffer: the bounded case shows nothing")
		}
	}
}
