package httpserve

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/parktick"
)

// openIdleOverNetstack opens n connections to srv over netstack (serveOverNetstack) and gets
// /about on each, leaving them open and idle.
func openIdleOverNetstack(t *testing.T, srv *Server, n int) []net.Conn {
	t.Helper()
	client := serveOverNetstack(t, srv)
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := client.Dial(context.Background(), "tcp", "10.0.0.1:80")
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		conns[i] = c
		getAbout(t, c, bufio.NewReader(c), 1)
	}
	return conns
}

// getAbout sends the requests for /about of n pipelined requests, the bytes in pieces, and
// reads their n answers.
func getAbout(t *testing.T, c net.Conn, r *bufio.Reader, n int) {
	t.Helper()
	const about = "GET /about HTTP/1.1\r\nHost: x\r\n\r\n"
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	for range n {
		for k := 0; k < len(about); k += 10 {
			_, err := io.WriteString(c, about[k:min(k+10, len(about))])
			require.NoError(t, err)
		}
	}
	for range n {
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, "<h1>about</h1>", string(b))
	}
}

// idleConns counts srv's connections waiting for a request.
func idleConns(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var idle int
	for c := range srv.conns {
		if c.idle.Load() {
			idle++
		}
	}
	return idle
}

// parkedConns counts srv's connections parked without a goroutine.
func parkedConns(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var parked int
	for c := range srv.conns {
		if c.park.state.Load() == stParked {
			parked++
		}
	}
	return parked
}

// parkWait is how long a test waits for idle connections to park: two of the parker's ticks
// and some.
const parkWait = 2*parktick.Interval + 3*time.Second

// TestIdleConnectionsHoldNoGoroutine checks that idle keep-alive connections on a netstack
// listener are parked without a goroutine each within two of the parker's ticks, and that
// each answers again after idling: pipelined requests whose bytes come in pieces, then once
// more after parking again.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	const n = 64
	srv := New(&Config{Store: newTestStore(t)})
	before := runtime.NumGoroutine()
	conns := openIdleOverNetstack(t, srv, n)
	require.Eventually(t, func() bool { return parkedConns(srv) == n }, parkWait, time.Millisecond)
	require.Equal(t, n, idleConns(srv))
	// The stacks' own goroutines and the parker do not grow with connections; a goroutine
	// per connection would add n. A connection is parked as its goroutine is woken to return,
	// so the count falls a moment after the state changes.
	fewGoroutines := func() bool { return runtime.NumGoroutine()-before < n/4 }
	require.Eventually(t, fewGoroutines, parkWait, time.Millisecond,
		"goroutines for %d idle connections", n)
	readers := make([]*bufio.Reader, n)
	for i, c := range conns {
		readers[i] = bufio.NewReader(c)
		getAbout(t, c, readers[i], 3)
	}
	require.Eventually(t, func() bool { return parkedConns(srv) == n }, parkWait, time.Millisecond)
	require.Eventually(t, fewGoroutines, parkWait, time.Millisecond, "goroutines after the connections idled again")
	for i, c := range conns {
		getAbout(t, c, readers[i], 1)
	}
}

// TestParkedConnectionsEnd checks that parked connections end at their idle timeout, at
// Shutdown and at Close. (Connections waiting on their goroutine, before they park, are the
// other tests' idle connections.)
func TestParkedConnectionsEnd(t *testing.T) {
	closed := func(t *testing.T, c net.Conn, within time.Duration) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(within))
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF, "the server's end of the connection")
	}
	t.Run("idle timeout", func(t *testing.T) {
		// Longer than the wait before a connection parks, so that the timeout meets it parked.
		srv := New(&Config{Store: newTestStore(t), IdleTimeout: parkWait})
		conns := openIdleOverNetstack(t, srv, 4)
		require.Eventually(t, func() bool { return parkedConns(srv) == len(conns) }, parkWait, time.Millisecond)
		for _, c := range conns {
			closed(t, c, 2*parkWait)
		}
		require.Eventually(t, func() bool { return srv.Stats().Conns == 0 }, 5*time.Second, time.Millisecond)
	})
	t.Run("shutdown", func(t *testing.T) {
		srv := New(&Config{Store: newTestStore(t)})
		conns := openIdleOverNetstack(t, srv, 4)
		require.Eventually(t, func() bool { return parkedConns(srv) == len(conns) }, parkWait, time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		require.NoError(t, srv.Shutdown(ctx))
		assert.Less(t, time.Since(start), 2*time.Second, "Shutdown waited for parked connections")
		for _, c := range conns {
			closed(t, c, 5*time.Second)
		}
	})
	t.Run("close", func(t *testing.T) {
		srv := New(&Config{Store: newTestStore(t)})
		conns := openIdleOverNetstack(t, srv, 4)
		require.Eventually(t, func() bool { return parkedConns(srv) == len(conns) }, parkWait, time.Millisecond)
		require.NoError(t, srv.Close())
		for _, c := range conns {
			closed(t, c, 5*time.Second)
		}
	})
}
