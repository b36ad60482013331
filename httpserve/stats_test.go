package httpserve

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/leaktest"
	"golang.org/x/net/http2"
)

// syncBuffer is a bytes.Buffer safe for the access log's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStatsAndAccessLog(t *testing.T) {
	var logBuf syncBuffer
	srv := New(&Config{Store: newTestStore(t), AccessLog: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	addr := startServer(t, srv)
	rc := dialRaw(t, addr)
	rc.send("GET /about HTTP/1.1\r\nHost: a\r\n\r\nGET /blog HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\n\r\n")
	var total int
	for _, m := range []string{"GET", "GET", "GET", "POST"} {
		resp, body := rc.read(m)
		total += len(body)
		_ = resp
	}
	st := srv.Stats()
	require.EqualValues(t, 4, st.Requests)
	require.Equal(t, [6]uint64{0, 0, 1, 1, 2, 0}, st.Status)
	require.Greater(t, st.Bytes, uint64(total))
	require.EqualValues(t, 1, st.Conns)
	require.EqualValues(t, 1, st.Accepted)

	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	require.Len(t, lines, 4)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &rec))
	require.Equal(t, "GET", rec["method"])
	require.Equal(t, "/blog", rec["path"])
	require.EqualValues(t, 301, rec["status"])
	require.Equal(t, "HTTP/1.1", rec["proto"])
}

// TestCloseEndsEverything checks that Close ends the goroutines of fast-path connections,
// connections handed to net/http, HTTP/2 connections and the accept loops.
func TestCloseEndsEverything(t *testing.T) {
	before := leaktestCount()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	srv := New(&Config{Store: newTestStore(t), Fallback: mux, H2C: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	fast := dialRaw(t, addr)
	fast.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	fast.read("GET")
	handed := dialRaw(t, addr)
	handed.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
	_, body := handed.read("POST")
	require.Equal(t, "hi", body)
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/about")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "HTTP/2.0", resp.Proto)

	require.NoError(t, srv.Close())
	require.ErrorIs(t, <-done, ErrServerClosed)
	require.NoError(t, srv.Close())
	tr.CloseIdleConnections()
	fast.c.Close()
	handed.c.Close()
	leaktest.Settle(t, before)
	require.EqualValues(t, 0, srv.Stats().Conns)
}
