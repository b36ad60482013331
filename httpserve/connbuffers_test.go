package httpserve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleConnectionsHoldNoBuffers keeps connections open on a netstack listener after a
// request each, checks that none of them holds its buffers while it waits, and that each
// answers its next request, pipelined ones and one whose head comes in pieces among them.
func TestIdleConnectionsHoldNoBuffers(t *testing.T) {
	srv := New(&Config{Store: newTestStore(t)})
	client := serveOverNetstack(t, srv)

	const n = 8
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	get := func(i int, request string, responses int) {
		t.Helper()
		conns[i].SetDeadline(time.Now().Add(10 * time.Second))
		for len(request) > 0 {
			// The head in two pieces, so that the server waits with part of it buffered.
			k := min(len(request), 10)
			_, err := io.WriteString(conns[i], request[:k])
			require.NoError(t, err)
			request = request[k:]
			time.Sleep(time.Millisecond)
		}
		for range responses {
			resp, err := http.ReadResponse(readers[i], nil)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, "<h1>about</h1>", string(b))
		}
	}
	const about = "GET /about HTTP/1.1\r\nHost: x\r\n\r\n"
	for i := range conns {
		var err error
		conns[i], err = client.Dial(context.Background(), "tcp", "10.0.0.1:80")
		require.NoError(t, err)
		defer conns[i].Close()
		readers[i] = bufio.NewReader(conns[i])
		get(i, about, 1)
	}
	holding := func() (idle, held int) {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for c := range srv.conns {
			if c.idle.Load() {
				idle++
			}
			if c.held.Load() != nil {
				held++
			}
		}
		return idle, held
	}
	require.Eventually(t, func() bool { idle, held := holding(); return idle == n && held == 0 },
		5*time.Second, time.Millisecond, "idle connections holding buffers")
	for i := range conns {
		get(i, about+about+about, 3)
	}
	require.Eventually(t, func() bool { idle, held := holding(); return idle == n && held == 0 },
		5*time.Second, time.Millisecond)
	idle, held := holding()
	assert.Equal(t, fmt.Sprint(n, 0), fmt.Sprint(idle, held))
}
