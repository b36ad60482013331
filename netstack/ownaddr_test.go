package netstack_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDialOwnAddress checks that a stack reaches its own addresses without a loopback NIC:
// TCP and UDP to the NIC's IPv4 and IPv6 addresses are handled inside the stack (the stack's
// HandleLocal option). With HandleLocal off they go out on the wire, where nothing answers,
// and the dial times out.
func TestDialOwnAddress(t *testing.T) {
	a, _ := twoStacks(t, 1500, 0)
	l, err := a.Listen("tcp", ":80")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	pc, err := a.ListenPacket("udp", ":9")
	require.NoError(t, err)
	defer pc.Close()

	buf := make([]byte, 64)
	for _, host := range []string{"10.0.0.1", "[fd00::1]"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := a.Dial(ctx, "tcp", host+":80")
		cancel()
		require.NoError(t, err, host)
		_, err = c.Write([]byte("echo"))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = io.ReadFull(c, buf[:4])
		require.NoError(t, err, host)
		require.Equal(t, "echo", string(buf[:4]))
		require.NoError(t, c.Close())

		u, err := a.Dial(context.Background(), "udp", host+":9")
		require.NoError(t, err, host)
		_, err = u.Write([]byte("dgram"))
		require.NoError(t, err)
		require.NoError(t, pc.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := pc.ReadFrom(buf)
		require.NoError(t, err, host)
		require.Equal(t, "dgram", string(buf[:n]))
		require.NoError(t, u.Close())
	}
}
