package httpserve

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/kv"
)

// opaqueListener hands out its connections behind a type the net package does not know, as
// a userspace stack's listener does, and records the size of every Write the server makes.
type opaqueListener struct {
	net.Listener
	mu     sync.Mutex
	writes []int
}

func (l *opaqueListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &opaqueConn{Conn: c, l: l}, nil
}

func (l *opaqueListener) takeWrites() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

type opaqueConn struct {
	net.Conn
	l *opaqueListener
}

func (c *opaqueConn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes = append(c.l.writes, len(b))
	c.l.mu.Unlock()
	return c.Conn.Write(b)
}

func startOpaque(t *testing.T, store kv.Store) (*opaqueListener, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ol := &opaqueListener{Listener: ln}
	return ol, serveOn(t, New(&Config{Store: store}), ol)
}

// TestFlushCoalescesOnConnsThatCannotGather checks that a small response leaves in one Write
// on a connection that cannot gather buffers (one TCP segment on a userspace stack, one TLS
// record), pipelined responses answered in one flush too, while a large one is written as
// it is.
func TestFlushCoalescesOnConnsThatCannotGather(t *testing.T) {
	m := kv.NewMem(nil)
	require.NoError(t, m.Set("small.txt", bytes.Repeat([]byte("s"), 4096)))
	require.NoError(t, m.Set("large.txt", bytes.Repeat([]byte("l"), coalesceMax)))
	ol, addr := startOpaque(t, m)
	c := dialRaw(t, addr)
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n" }

	c.send(get("/small.txt"))
	resp, body := c.read("GET")
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, body, 4096)
	w := ol.takeWrites()
	require.Len(t, w, 1, "writes %v", w)
	require.Greater(t, w[0], 4096, "head and body in one write")

	c.send(get("/large.txt"))
	resp, body = c.read("GET")
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, body, coalesceMax)
	require.Len(t, ol.takeWrites(), 2, "head, then the body as it is")

	c.send(get("/small.txt") + get("/small.txt"))
	for range 2 {
		resp, body = c.read("GET")
		require.Equal(t, 200, resp.StatusCode)
		require.Len(t, body, 4096)
	}
	w = ol.takeWrites()
	require.Len(t, w, 1, "two pipelined responses, one flush: writes %v", w)
	require.Greater(t, w[0], 2*4096)
}
