package httpserve

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// The stack's TCP connections offer the gathered write httpserve looks for.
var _ buffersWriter = (*netstack.TCPConn)(nil)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestServeGatheredOverNetstack serves the 4 KiB page on a userspace stack (two stacks joined
// by a pipe link with TSO) and checks the gathered path end to end: each response, head and
// body in separate buffers, leaves the server's stack as one frame with data (besides pure
// ACKs), and cached requests allocate nothing in steady state, server, client and both stacks
// together, but for gVisor's receive buffer auto-tuning, which allocates 24 bytes whenever a
// connection's reads in one round-trip time reach a new high (see the netstack package's
// TestTCPConnAllocs): at most maxRecords in 1000 requests.
func TestServeGatheredOverNetstack(t *testing.T) {
	a, b, err := pipe.New(&pipe.Config{Features: stacktest.Offloads})
	require.NoError(t, err)
	counter := &stacktest.DataFrames{Link: b}
	client, server := stacktest.Pair(t, a, counter)
	ln, err := server.Listen("tcp4", ":80")
	require.NoError(t, err)
	serveOn(t, New(&Config{Store: fourKiBSite(t)}), ln)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "tcp4", "10.0.0.2:80")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(time.Minute)))

	// Learn the response's length from a first exchange; the Date field has a fixed width.
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	_, err = c.Write(req)
	require.NoError(t, err)
	cr := &countingReader{r: c}
	br := bufio.NewReader(cr)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Len(t, body, 4096)
	require.Zero(t, br.Buffered())
	respBuf := make([]byte, cr.n)

	var doErr error
	do := func() {
		if _, err := c.Write(req); err != nil {
			doErr = err
		}
		if _, err := io.ReadFull(c, respBuf); err != nil {
			doErr = err
		}
	}
	for range 10 {
		do()
	}
	require.NoError(t, doErr)

	const requests = 200
	before := counter.Count()
	for range requests {
		do()
	}
	require.NoError(t, doErr)
	assert.Equal(t, uint64(requests), counter.Count()-before,
		"frames with data the server sent for %d responses: head and body leave as one", requests)

	if israce.Enabled {
		return // allocation counts are not meaningful under -race
	}
	allocs.NoGC(t)
	for range 1000 { // a young connection's pools and caches still fill
		do()
	}
	const maxRecords = 4
	r := allocs.Measure(1000, 0, do).Per(1, "requests")
	require.NoError(t, doErr)
	t.Logf("cached requests over the stack: %v", r)
	assert.LessOrEqual(t, r.Mallocs, uint64(maxRecords), "cached requests over the stack: %v", r)
}

// TestGatheredWriteChoice checks which connections writeBuffers gathers for, and how: the
// stack's through WriteBuffers, the kernel's through net.Buffers.WriteTo (not coalesced), any
// other by coalescing a small flush.
func TestGatheredWriteChoice(t *testing.T) {
	iov := [][]byte{[]byte("head"), []byte("body")}
	var kernel net.Conn = &net.TCPConn{}
	assert.False(t, coalesce(kernel, iov), "kernel sockets gather with writev")
	assert.True(t, coalesce(&opaqueConn{Conn: kernel}, iov), "a wrapper that hides the socket")
	var stack net.Conn = &netstack.TCPConn{}
	_, ok := stack.(buffersWriter)
	assert.True(t, ok, "the stack's connections gather themselves")
}
