package socket

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// socketOptions are the suite's options for a pair of socket links that hold at most inFlight
// frames of 1514 bytes in flight: one receive batch (64 frames), the read buffer (64 KiB,
// 43 frames) and what the connection itself buffers. Frames up to MaxFrameLen (65535 by
// default) are sent whatever the MTU; a longer one is refused.
func socketOptions(inFlight int) *linktest.Options {
	return &linktest.Options{MaxFrameLen: DefaultMaxFrameLen, InFlight: inFlight}
}

// TestConformance runs the frame contract's conformance suite over links joined by an
// in-memory connection and by UNIX and TCP sockets, with one side dialling and the other
// listening.
func TestConformance(t *testing.T) {
	t.Run("NetPipe", func(t *testing.T) {
		linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
			c1, c2 := net.Pipe()
			a, err := New(c1, quietConfig(t))
			require.NoError(t, err)
			b, err := New(c2, quietConfig(t))
			require.NoError(t, err)
			return a, b
		}, socketOptions(128)) // net.Pipe buffers nothing
	})
	listenDial := func(network string, address func(t *testing.T) string) linktest.NewPair {
		return func(t *testing.T) (link.Link, link.Link) {
			srv, err := Listen(network, address(t), quietConfig(t))
			require.NoError(t, err)
			cli, err := Dial(context.Background(), network, srv.Addr().String(), quietConfig(t))
			if err != nil {
				srv.Close()
			}
			require.NoError(t, err)
			return cli, srv
		}
	}
	t.Run("UnixListenDial", func(t *testing.T) {
		linktest.Run(t, listenDial("unix", func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "s.sock")
		}), socketOptions(256)) // the socket's 208 KiB send buffer: about 100 frames
	})
	t.Run("TCPListenDial", func(t *testing.T) {
		linktest.Run(t, listenDial("tcp", func(*testing.T) string { return "127.0.0.1:0" }), socketOptions(8192)) // autotuned buffers: 2600 frames measured
	})
}
