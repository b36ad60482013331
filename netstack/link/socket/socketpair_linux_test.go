package socket

import (
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// socketpair returns the two ends of a connected AF_UNIX stream socket pair, the way QEMU's
// `-netdev stream,addr.type=fd` or passt's `--fd` receive an inherited socket.
func socketpair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		require.NoError(t, err)
		conns[i] = c
	}
	return conns[0], conns[1]
}

func TestRoundTripSocketpair(t *testing.T) {
	c1, c2 := socketpair(t)
	a, err := New(c1, quietConfig(t))
	require.NoError(t, err)
	b, err := New(c2, quietConfig(t))
	require.NoError(t, err)
	checkRoundTrip(t, a, b)
}

// TestConformanceSocketpair runs the frame contract's conformance suite over links on the two
// ends of a socket pair.
func TestConformanceSocketpair(t *testing.T) {
	linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
		c1, c2 := socketpair(t)
		a, err := New(c1, quietConfig(t))
		require.NoError(t, err)
		b, err := New(c2, quietConfig(t))
		require.NoError(t, err)
		return a, b
	}, socketOptions(256))
}
