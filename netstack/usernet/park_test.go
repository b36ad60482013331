package usernet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/usernet"
)

// relayPair is a connection relayed through a port forward: the host's end and the guest's.
type relayPair struct{ host, guest net.Conn }

// openRelayed opens n connections through n's first port forward to the guest's port 7 on s,
// which accepts them without a goroutine each, and returns both ends of each.
func openRelayed(t *testing.T, nw *usernet.Network, s *netstack.Stack, n int) []relayPair {
	t.Helper()
	ln, err := s.Listen("tcp", ":7")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	pairs := make([]relayPair, n)
	for i := range pairs {
		h, err := net.DialTimeout("tcp", nw.ForwardAddrs()[0].String(), 10*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { h.Close() })
		g, err := ln.Accept()
		require.NoError(t, err)
		t.Cleanup(func() { g.Close() })
		pairs[i] = relayPair{h, g}
	}
	return pairs
}

// send writes msg on from and reads it on to.
func send(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	from.SetDeadline(time.Now().Add(10 * time.Second))
	to.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(from, msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(to, got)
	require.NoError(t, err)
	require.Equal(t, msg, string(got))
}

// halfClose half-closes from and checks that to reads EOF, while the other way still carries
// data; then it half-closes that way too.
func halfClose(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	require.NoError(t, from.(interface{ CloseWrite() error }).CloseWrite())
	to.SetDeadline(time.Now().Add(10 * time.Second))
	n, err := to.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF, "the half-close passed on")
	send(t, to, from, msg)
	require.NoError(t, to.(interface{ CloseWrite() error }).CloseWrite())
	n, err = from.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF, "the other half-close passed on")
}

// parkWait is how long a test waits for idle relay directions to park: two of the parker's
// 100 ms ticks and some.
const parkWait = 5 * time.Second

// wantParked is how many directions of n idle relays park: both, or only those whose source
// is the gateway stack where host connections do not park.
func wantParked(n int) int {
	if usernet.HostConnsPark {
		return 2 * n
	}
	return n
}

// TestIdleRelaysHoldNoGoroutine checks that idle relayed connections through a port forward
// are parked without their goroutines (the host connections on the network's epoll instance
// on Linux), that data flows both ways through each once woken, that a half-close from
// either side reaches a parked relay, and that no relay or epoll registration is left once
// the connections have ended.
func TestIdleRelaysHoldNoGoroutine(t *testing.T) {
	const n = 32
	nw := newNetwork(t, &usernet.Config{Forwards: []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 7}}})
	s := guest(t, nw, false)
	before := runtime.NumGoroutine()
	pairs := openRelayed(t, nw, s, n)
	for i, p := range pairs {
		send(t, p.host, p.guest, fmt.Sprint("to the guest ", i))
		send(t, p.guest, p.host, fmt.Sprint("to the host ", i))
	}
	parked := func() bool { return usernet.ParkedDirections(nw) == wantParked(n) }
	// Beyond the goroutines before the relays, only the parker's, the epoll instance's and
	// the one Eventually runs the condition on; two per relay would add 2n. A direction is
	// parked as its goroutine is woken to return, so the count falls a moment after the
	// state changes.
	fewGoroutines := func() bool { return runtime.NumGoroutine()-before <= 3 }
	require.Eventually(t, parked, parkWait, time.Millisecond)
	require.Eventually(t, fewGoroutines, parkWait, time.Millisecond, "goroutines for %d idle relays", n)
	if usernet.HostConnsPark {
		// Registered by the goroutine the parker woke, just before it returns.
		require.Eventually(t, func() bool { return usernet.KernelRegistrations(nw) == n }, parkWait, time.Millisecond)
	}

	for i, p := range pairs {
		send(t, p.host, p.guest, fmt.Sprint("again to the guest ", i))
		send(t, p.guest, p.host, fmt.Sprint("again to the host ", i))
	}
	require.Eventually(t, parked, parkWait, time.Millisecond)
	require.Eventually(t, fewGoroutines, parkWait, time.Millisecond, "goroutines after the relays idled again")

	for i, p := range pairs {
		if i%2 == 0 {
			halfClose(t, p.host, p.guest, fmt.Sprint("after the host's half-close ", i))
		} else {
			halfClose(t, p.guest, p.host, fmt.Sprint("after the guest's half-close ", i))
		}
	}
	require.Eventually(t, func() bool { return usernet.Relays(nw) == 0 }, parkWait, time.Millisecond,
		"relays left after both directions ended")
	require.Zero(t, usernet.KernelRegistrations(nw), "epoll registrations left")
	require.Eventually(t, fewGoroutines, parkWait, time.Millisecond, "goroutines after the relays ended")
}

// TestCloseWithParkedRelays checks that Close ends parked relays: it returns, the host
// connections are closed, and nothing is left running or registered.
func TestCloseWithParkedRelays(t *testing.T) {
	const n = 8
	before := runtime.NumGoroutine()
	nw := newNetwork(t, &usernet.Config{Forwards: []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 7}}})
	s := guest(t, nw, false)
	pairs := openRelayed(t, nw, s, n)
	for i, p := range pairs {
		send(t, p.host, p.guest, fmt.Sprint("to the guest ", i))
		send(t, p.guest, p.host, fmt.Sprint("to the host ", i))
	}
	require.Eventually(t, func() bool { return usernet.ParkedDirections(nw) == wantParked(n) }, parkWait, time.Millisecond)

	closed := make(chan error, 1)
	go func() { closed <- nw.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with parked relays")
	}
	for _, p := range pairs {
		p.host.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := p.host.Read(make([]byte, 1))
		require.Error(t, err)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "host connection not ended by Close: %v", err)
	}
	require.Zero(t, usernet.Relays(nw))
	require.Zero(t, usernet.KernelRegistrations(nw))
	for _, p := range pairs {
		p.host.Close()
		p.guest.Close()
	}
	s.Close()
	leaktest.Settle(t, before)
}

// TestIdleHostLoopbackRelaysPark checks parking on the other way round, a relay the guest
// opened to the host's loopback (Config.HostLoopback): its directions park, data flows both
// ways once woken, and a half-close from either side ends the relay.
func TestIdleHostLoopbackRelaysPark(t *testing.T) {
	const n = 4
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	nw := newNetwork(t, &usernet.Config{HostLoopback: true})
	s := guest(t, nw, false)
	addr := netip.AddrPortFrom(nw.Gateway(), uint16(ln.Addr().(*net.TCPAddr).Port))
	pairs := make([]relayPair, n)
	for i := range pairs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		g, err := s.Dial(ctx, "tcp", addr.String())
		cancel()
		require.NoError(t, err)
		t.Cleanup(func() { g.Close() })
		h, err := ln.Accept()
		require.NoError(t, err)
		t.Cleanup(func() { h.Close() })
		pairs[i] = relayPair{host: h, guest: g}
	}
	for round := range 2 {
		for i, p := range pairs {
			send(t, p.guest, p.host, fmt.Sprint("to the host ", round, i))
			send(t, p.host, p.guest, fmt.Sprint("to the guest ", round, i))
		}
		require.Eventually(t, func() bool { return usernet.ParkedDirections(nw) == wantParked(n) }, parkWait, time.Millisecond)
	}
	for i, p := range pairs {
		if i%2 == 0 {
			halfClose(t, p.host, p.guest, fmt.Sprint("after the host's half-close ", i))
		} else {
			halfClose(t, p.guest, p.host, fmt.Sprint("after the guest's half-close ", i))
		}
	}
	require.Eventually(t, func() bool { return usernet.Relays(nw) == 0 }, parkWait, time.Millisecond)
	require.Zero(t, usernet.KernelRegistrations(nw))
}
