package appliance_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
)

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func openPorts(t *testing.T, ports []uint16, args ...string) (*appliance.Network, error) {
	t.Helper()
	f, err := parse(t, args...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := f.Open(ctx, ports...)
	if err == nil {
		t.Cleanup(func() { require.NoError(t, n.Close()) })
	}
	return n, err
}

// TestListenMapping checks how -listen maps host addresses to several served ports, with the
// host's sockets (-net kernel) and through the user-mode network (-net user), where each
// served port must be reachable from the host.
func TestListenMapping(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	loop := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port) }
	for _, mode := range []string{"kernel", "user"} {
		t.Run(mode, func(t *testing.T) {
			// One entry per port, in order.
			n, err := openPorts(t, []uint16{80, 6060}, "-net", mode, "-listen", "127.0.0.1:0,127.0.0.1:0")
			require.NoError(t, err)
			require.NotEqual(t, n.Addr(80), n.Addr(6060))
			require.NotZero(t, n.Addr(6060).Port())
			require.Equal(t, []uint16{80, 6060}, n.Ports())
			require.False(t, n.Addr(81).IsValid(), "not opened for 81")
			require.NoError(t, n.Close())

			// A port without an entry: the first entry's host with the port's own number.
			n, err = openPorts(t, []uint16{80, p2}, "-net", mode, "-listen", loop(p1).String())
			require.NoError(t, err)
			require.Equal(t, loop(p1), n.Addr(80))
			require.Equal(t, loop(p2), n.Addr(p2))
			require.NoError(t, n.Close())

			// An entry naming its stack port; the other port takes the next plain entry.
			n, err = openPorts(t, []uint16{80, 6060}, "-net", mode, "-listen", loop(p1).String()+"=6060,"+loop(p2).String())
			require.NoError(t, err)
			require.Equal(t, loop(p1), n.Addr(6060))
			require.Equal(t, loop(p2), n.Addr(80))
			require.NoError(t, n.Close())

			_, err = openPorts(t, []uint16{80}, "-net", mode, "-listen", "127.0.0.1:0=81")
			require.ErrorIs(t, err, appliance.ErrBadFlag)
			require.ErrorContains(t, err, "serves no stack port 81 (it serves 80)")
			_, err = openPorts(t, []uint16{80}, "-net", mode, "-listen", "127.0.0.1:0,127.0.0.1:0")
			require.ErrorIs(t, err, appliance.ErrBadFlag)
			require.ErrorContains(t, err, "more addresses than")
			_, err = openPorts(t, []uint16{80, 80}, "-net", mode, "-listen", "127.0.0.1:0")
			require.ErrorIs(t, err, appliance.ErrBadFlag)
			_, err = openPorts(t, []uint16{0}, "-net", mode, "-listen", "127.0.0.1:0")
			require.ErrorIs(t, err, appliance.ErrBadFlag)

			// No port at all: a network to dial out from; -listen is unused.
			n, err = openPorts(t, nil, "-net", mode)
			require.NoError(t, err)
			_, err = n.Listen(80)
			require.Error(t, err)
		})
	}
}

// TestNetworkDial dials out with Network.Dial: from the host's sockets with -net kernel, and
// from the stack with -net user, to the user-mode network's DNS forwarder, which only the
// stack can reach.
func TestNetworkDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	n, err := openPorts(t, nil, "-net", "kernel")
	require.NoError(t, err)
	require.Equal(t, net.DefaultResolver, n.Resolver())
	c, err := n.Dial(context.Background(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	c.Close()

	n, err = openPorts(t, nil, "-net", "user")
	require.NoError(t, err)
	require.NotEqual(t, net.DefaultResolver, n.Resolver())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err = n.Dial(ctx, "tcp", netip.AddrPortFrom(n.User().DNS(), 53).String())
	require.NoError(t, err)
	c.Close()
}
