package netstack_test

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTCPConnWaitRead checks that WaitRead returns once data is there (and takes none of it),
// at the peer's half-close, at the read deadline and on Close, as Read would.
func TestTCPConnWaitRead(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)

	waited := make(chan error, 1)
	go func() { waited <- d.WaitRead() }()
	select {
	case err := <-waited:
		t.Fatalf("WaitRead returned %v before any data", err)
	case <-time.After(50 * time.Millisecond):
	}
	_, err := a.Write([]byte("xy"))
	require.NoError(t, err)
	require.NoError(t, <-waited)
	require.NoError(t, d.WaitRead(), "data is still there")
	b := make([]byte, 2)
	_, err = io.ReadFull(d, b)
	require.NoError(t, err)
	require.Equal(t, "xy", string(b))

	require.NoError(t, d.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	require.ErrorIs(t, d.WaitRead(), os.ErrDeadlineExceeded)
	require.NoError(t, d.SetReadDeadline(time.Time{}))

	require.NoError(t, a.CloseWrite())
	require.NoError(t, d.WaitRead())
	_, err = d.Read(b)
	require.Equal(t, io.EOF, err)

	go func() { waited <- a.WaitRead() }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, a.Close())
	require.ErrorIs(t, <-waited, net.ErrClosed)
}
