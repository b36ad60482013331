package httpserve

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/leaktest"
)

// TestSmuggling sends request-smuggling shapes and other malformed heads: each is answered
// with 400 (or 431/505) and the connection is closed, so nothing after it is read as another
// request.
func TestSmuggling(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	addr := startServer(t, srv)
	cases := []struct {
		name, req string
		status    int
	}{
		{"CL+TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE+CL", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 400},
		{"TE not chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"TE chunked, identity", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
		{"TE twice", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE in HTTP/1.0", "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE with space before colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
		{"duplicate CL", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"CL list", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400},
		{"CL sign", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400},
		{"CL huge", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"bare LF in head", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"bare LF in field", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400},
		{"NUL in field", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
		{"invalid name", "GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: z\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"no version", "GET /\r\nHost: a\r\n\r\n", 400},
		{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"query without path", "GET ?x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"relative target", "GET about HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
		{"HTTP/2 without h2c", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"oversized head", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 200) + "\r\n", 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			// A second, valid request behind the bad one must never be answered.
			rc.send(tc.req + "GET /about HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, _ := rc.read("GET")
			require.Equal(t, tc.status, resp.StatusCode)
			require.True(t, resp.Close, "Connection: close expected")
			require.True(t, rc.closed(), "connection left open")
		})
	}
}

// TestKeepAliveAndPipelining checks HTTP/1.1 persistence rules and pipelined answers in order.
func TestKeepAliveAndPipelining(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	addr := startServer(t, srv)
	rc := dialRaw(t, addr)
	var sb strings.Builder
	paths := []string{"/", "/about", "/blog/", "/missing", "/blog", "/robots.txt"}
	for _, p := range paths {
		sb.WriteString("GET " + p + " HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	rc.send(sb.String())
	for _, p := range paths {
		resp, body := rc.read("GET")
		require.False(t, resp.Close, p)
		if resp.StatusCode == 200 {
			require.NotEmpty(t, body, p)
		}
	}
	// HTTP/1.0 closes unless asked not to.
	rc.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, _ := rc.read("GET")
	require.Equal(t, "keep-alive", resp.Header.Get("Connection"))
	rc.send("GET / HTTP/1.0\r\n\r\n")
	resp, _ = rc.read("GET")
	require.True(t, resp.Close)
	require.True(t, rc.closed())
	// Connection: close.
	rc = dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	resp, _ = rc.read("GET")
	require.True(t, resp.Close)
	require.True(t, rc.closed())
	// A GET with a body (and no Fallback) is answered, then the connection closes.
	rc = dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	resp, _ = rc.read("GET")
	require.Equal(t, 200, resp.StatusCode)
	require.True(t, rc.closed())
}

// TestTimeouts checks the read-header and idle timeouts.
func TestTimeouts(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t), ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	addr := startServer(t, srv)
	rc := dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n") // never finished
	start := time.Now()
	require.True(t, rc.closed())
	require.Less(t, time.Since(start), 2*time.Second)
	rc = dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	rc.read("GET")
	require.True(t, rc.closed()) // idle
}

// TestHeaderTimeoutEndsWithTheHead checks that the read-header deadline of a request that
// arrived in pieces is cleared once the request is in, when idle connections have no timeout:
// the kept-alive connection then waits for its next request as long as it likes, and that
// request, also in pieces, gets a whole ReadHeaderTimeout of its own.
func TestHeaderTimeoutEndsWithTheHead(t *testing.T) {
	const headerTimeout = 300 * time.Millisecond
	srv := New(&Config{Store: newTestStore(t), ReadHeaderTimeout: headerTimeout, IdleTimeout: -1})
	addr := startServer(t, srv)
	rc := dialRaw(t, addr)
	for range 2 {
		rc.send("GET / HTTP/1.1\r\n")
		time.Sleep(headerTimeout / 6)
		rc.send("Host: a\r\n\r\n")
		resp, _ := rc.read("GET")
		require.Equal(t, 200, resp.StatusCode)
		time.Sleep(2 * headerTimeout) // idle, with no idle timeout
	}
}

// TestMaxConns checks that connections over the cap are answered 503 and closed.
func TestMaxConns(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t), MaxConns: 2})
	addr := startServer(t, srv)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	a.read("GET")
	b.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	b.read("GET")
	c := dialRaw(t, addr)
	resp, _ := c.read("GET")
	require.Equal(t, 503, resp.StatusCode)
	require.EqualValues(t, 1, srv.Stats().Refused)
}

// TestSlowloris opens 1,000 connections that send a partial head a byte at a time and checks
// that a normal client is still served within 100 ms (kernel loopback).
func TestSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	raiseFileLimit(4096)
	srv := New(&Config{Store: newTestStore(t), ReadHeaderTimeout: 5 * time.Second})
	addr := startServer(t, srv)
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = c.Write([]byte("GET / HTTP/1.1\r\nHo"))
		require.NoError(t, err)
		conns = append(conns, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // keep dribbling
		for i := 0; ctx.Err() == nil; i++ {
			conns[i%n].Write([]byte("s"))
			if i%n == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	require.Eventually(t, func() bool { return srv.Stats().Conns >= n }, 10*time.Second, 10*time.Millisecond)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var worst time.Duration
	for range 20 {
		start := time.Now()
		resp, err := client.Get("http://" + addr + "/about")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst latency of a normal client beside %d slowloris connections: %v", n, worst)
	require.Less(t, worst, 100*time.Millisecond)
}

// TestShutdown checks graceful shutdown: idle connections close, goroutines end.
func TestShutdown(t *testing.T) {
	before := leaktestCount()
	srv := New(&Config{Store: newTestStore(t)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	rc := dialRaw(t, ln.Addr().String())
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	rc.read("GET")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.ErrorIs(t, <-done, ErrServerClosed)
	require.True(t, rc.closed())
	require.NoError(t, srv.Close()) // idempotent
	rc.c.Close()
	leaktest.Settle(t, before)
}
