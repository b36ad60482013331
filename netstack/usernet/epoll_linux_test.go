package usernet

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runPoller starts an epoll poller whose goroutine the test's end stops and waits for.
func runPoller(t *testing.T) *epollPoller {
	t.Helper()
	p, err := newEpollPoller(slog.Default())
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); p.run() }()
	t.Cleanup(func() {
		p.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the poller's goroutine did not return after Close")
		}
	})
	return p
}

// parkedPair returns a loopback TCP connection's two ends, the accepted one parking on p.
func parkedPair(t *testing.T, p *epollPoller) (*kernelConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	c, err := ln.Accept()
	require.NoError(t, err)
	kc := newKernelConn(p, c.(*net.TCPConn))
	require.NotNil(t, kc)
	t.Cleanup(func() { kc.Close() })
	return kc, peer.(*net.TCPConn)
}

// notice is a NotifyReadable function that counts its calls on a channel.
type notice chan struct{}

func (n notice) fn() { n <- struct{}{} }

// fired checks that the notice fired once within a while, and not again at once.
func (n notice) fired(t *testing.T, why string) {
	t.Helper()
	select {
	case <-n:
	case <-time.After(10 * time.Second):
		t.Fatalf("no notification: %s", why)
	}
	n.quiet(t, why+", fired twice")
}

// quiet checks that the notice does not fire for a moment.
func (n notice) quiet(t *testing.T, why string) {
	t.Helper()
	select {
	case <-n:
		t.Fatalf("unexpected notification: %s", why)
	case <-time.After(50 * time.Millisecond):
	}
}

func registrations(p *epollPoller) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.regs)
}

// TestEpollPollerNotifies checks each way a parked host connection's notification fires:
// data, data already there, the peer's half-close, the connection's Close; that one
// registration fires once and is removed as it does; and that an event of an earlier
// registration of the same descriptor fires nothing.
func TestEpollPollerNotifies(t *testing.T) {
	p := runPoller(t)
	n := make(notice, 2)

	t.Run("data", func(t *testing.T) {
		kc, peer := parkedPair(t, p)
		kc.NotifyReadable(n.fn)
		n.quiet(t, "nothing sent")
		require.Equal(t, 1, registrations(p))
		_, err := peer.Write([]byte("x"))
		require.NoError(t, err)
		n.fired(t, "data sent")
		require.Zero(t, registrations(p))
		// Still readable, registered again: it fires at once.
		kc.NotifyReadable(n.fn)
		n.fired(t, "data still there")
		require.Zero(t, registrations(p))
	})
	t.Run("half-close", func(t *testing.T) {
		kc, peer := parkedPair(t, p)
		kc.NotifyReadable(n.fn)
		n.quiet(t, "nothing sent")
		require.NoError(t, peer.CloseWrite())
		n.fired(t, "peer's half-close")
		require.Zero(t, registrations(p))
	})
	t.Run("close", func(t *testing.T) {
		kc, peer := parkedPair(t, p)
		kc.NotifyReadable(n.fn)
		require.NoError(t, kc.Close())
		n.fired(t, "Close")
		require.Zero(t, registrations(p))
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := peer.Read(make([]byte, 1))
		require.Error(t, err, "the socket closed")
		kc.NotifyReadable(n.fn)
		n.fired(t, "registered after Close")
		require.Zero(t, registrations(p))
	})
	t.Run("stale event", func(t *testing.T) {
		kc, peer := parkedPair(t, p)
		kc.NotifyReadable(n.fn)
		p.mu.Lock()
		gen := kc.gen
		p.mu.Unlock()
		require.Nil(t, p.take(kc.fd, gen-1), "an earlier registration's event")
		require.Equal(t, 1, registrations(p))
		_, err := peer.Write([]byte("x"))
		require.NoError(t, err)
		n.fired(t, "data sent")
	})
}

// TestEpollPollerClose checks that closing the poller fires its pending notifications and
// those asked for after it at once, and ends its goroutine (runPoller's cleanup).
func TestEpollPollerClose(t *testing.T) {
	p := runPoller(t)
	n := make(notice, 2)
	kc, _ := parkedPair(t, p)
	kc.NotifyReadable(n.fn)
	n.quiet(t, "nothing sent")
	require.NoError(t, p.Close())
	n.fired(t, "the poller's Close")
	require.Zero(t, registrations(p))
	kc.NotifyReadable(n.fn)
	n.fired(t, "registered after the poller's Close")
	require.NoError(t, p.Close(), "Close is idempotent")
}
