package observe_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// TestNoAllocsAdded measures the heap allocations of a request for the page, client and
// server stack included, with the debug listener off and on (the ring of recent frames on the
// link, the observer's collectors registered): on adds none.
func TestNoAllocsAdded(t *testing.T) {
	if testing.Short() || israce.Enabled {
		t.Skip("allocation counts are taken without -short and without the race detector")
	}
	var got [2]allocs.Result
	for i, on := range []bool{false, true} {
		r := buildRig(t, pipe.Impairments{}, "", on, false)
		c, err := r.client.Dial(context.Background(), "tcp", "10.0.0.1:80")
		require.NoError(t, err)
		defer c.Close()
		req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_, err = c.Write(req)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, page, body)
		buf := make([]byte, headLen(resp)+len(page))
		got[i] = allocs.Measure(200, 0, func() {
			if _, err := c.Write(req); err != nil {
				panic(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				panic(err)
			}
		}).Per(1, "request")
		if on {
			r.get(t, "/metrics") // the collectors work
		}
	}
	t.Logf("off: %v; on: %v", got[0], got[1])
	require.LessOrEqual(t, got[1].Mallocs, got[0].Mallocs, "off: %v; on: %v", got[0], got[1])
}
