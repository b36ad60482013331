package httpserve

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// TestOverNetstack serves a site on a netstack listener (two userspace stacks joined by an
// in-memory link) and fetches pages, ranges and a compressed variant with net/http's client
// dialing through the other stack.
func TestOverNetstack(t *testing.T) {
	client := serveOverNetstack(t, New(&Config{Store: newTestStore(t)}))

	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return client.Dial(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range 3 { // several requests on one kept-alive connection
		resp, err := hc.Get("http://10.0.0.1/about")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "<h1>about</h1>", string(b))
	}
	req, _ := http.NewRequest("GET", "http://10.0.0.1/big.txt", nil)
	req.Header.Set("Range", "bytes=100-104")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 206, resp.StatusCode)
	require.Equal(t, testSite["big.txt"][100:105], string(b))
	resp, err = hc.Get("http://10.0.0.1/big.txt") // the transport asks for gzip and decodes
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.True(t, resp.Uncompressed)
	require.Equal(t, testSite["big.txt"], string(b))
}

// serveOverNetstack serves srv on port 80 of a netstack Stack at 10.0.0.1, joined by an
// in-memory link to a second Stack at 10.0.0.2, which it returns for the test's clients; srv
// is shut down, then both stacks closed, when t ends.
func serveOverNetstack(t *testing.T, srv *Server) (client *netstack.Stack) {
	t.Helper()
	la, lb, err := pipe.New(nil)
	require.NoError(t, err)
	server, err := netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { server.Close() })
	client, err = netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	_, err = server.AddNIC(la, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	require.NoError(t, err)
	_, err = client.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})
	require.NoError(t, err)
	ln, err := server.Listen("tcp", ":80")
	require.NoError(t, err)
	serveOn(t, srv, ln)
	return client
}
