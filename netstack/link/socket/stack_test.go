package socket

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
)

// newStack returns a stack that logs to the test log and is closed when the test ends.
func newStack(t *testing.T) *netstack.Stack {
	t.Helper()
	s, err := netstack.New(&netstack.Config{Logger: quietConfig(t).Logger})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStacksOverUnixSocket connects two stacks through socket.Listen and socket.Dial over a
// UNIX socket, with static addresses, and checks a TCP transfer of a few MiB in each
// direction by digest.
func TestStacksOverUnixSocket(t *testing.T) {
	const size = 4 << 20
	path := filepath.Join(t.TempDir(), "stacks.sock")
	srvLink, err := Listen("unix", path, quietConfig(t))
	require.NoError(t, err)
	cliLink, err := Dial(context.Background(), "unix", path, quietConfig(t))
	require.NoError(t, err)

	s1, s2 := newStack(t), newStack(t)
	_, err = s1.AddNIC(srvLink, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.1/24")}})
	require.NoError(t, err)
	_, err = s2.AddNIC(cliLink, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.2/24")}})
	require.NoError(t, err)

	ln, err := s1.Listen("tcp", ":5001")
	require.NoError(t, err)
	defer ln.Close()
	// The server echoes exactly size bytes.
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_, err = io.CopyN(c, c, size)
		srvErr <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := s2.Dial(ctx, "tcp", "10.77.0.1:5001")
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	data := make([]byte, size)
	rand.Read(data)
	wrErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, bytes.NewReader(data))
		wrErr <- err
	}()
	h := sha256.New()
	n, err := io.CopyN(h, c, size)
	require.NoError(t, err)
	require.Equal(t, int64(size), n)
	require.NoError(t, <-wrErr)
	require.NoError(t, <-srvErr)
	want := sha256.Sum256(data)
	require.Equal(t, want[:], h.Sum(nil), "echoed data digest")

	st1, st2 := srvLink.Stats(), cliLink.Stats()
	require.Greater(t, st1.RxBytes, uint64(size))
	require.Greater(t, st2.RxBytes, uint64(size))
	require.Zero(t, st1.RxErrors+st1.RxDropped+st2.RxErrors+st2.RxDropped)
}
