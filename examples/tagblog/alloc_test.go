package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
)

// TestRenderedPagesNoAlloc proves that the blog's pages, once rendered, cost what static
// files cost: a request on a kept-alive connection makes no heap allocation in the process
// (the client reads into a fixed buffer).
func TestRenderedPagesNoAlloc(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	ts := startSite(t, options{})
	addr := strings.TrimPrefix(ts.base, "http://")
	for _, req := range []string{
		"GET /posts/commonmark/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip, br\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: http.localhost\r\n\r\n",
		"GET /feed.xml HTTP/1.1\r\nHost: evil.example\r\nAccept-Encoding: gzip\r\n\r\n",
		"GET /posts/nope/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		// Learn the response's length (the Date field has a fixed width), then reuse a buffer.
		_, err = io.WriteString(c, req)
		require.NoError(t, err)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		head := 0
		for k, vs := range resp.Header {
			for _, v := range vs {
				head += len(k) + 2 + len(v) + 2
			}
		}
		size := len(resp.Proto) + 1 + len(resp.Status) + 2 + head + 2 + len(body)
		require.Zero(t, br.Buffered())
		reqb, buf := []byte(req), make([]byte, size)
		do := func() error {
			if _, err := c.Write(reqb); err != nil {
				return err
			}
			_, err := io.ReadFull(c, buf)
			return err
		}
		allocs.NoGC(t)
		for range 10 {
			require.NoError(t, do())
		}
		require.True(t, strings.HasPrefix(string(buf), "HTTP/1.1 "+resp.Status), "%q", buf[:40])
		var derr error
		r := allocs.Measure(500, 0, func() {
			if e := do(); e != nil {
				derr = e
			}
		}).Per(1, "requests")
		require.NoError(t, derr)
		require.Zero(t, r.Mallocs, "%q: %v", req, r)
	}
}
