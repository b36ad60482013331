package httpload

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenIdle opens idle connections to a net/http server and checks that each made one
// request and is held idle by the server.
func TestOpenIdle(t *testing.T) {
	var requests, idle atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write(Page(4096))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateIdle {
			idle.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	var d net.Dialer
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	ic, err := OpenIdle(context.Background(), dial, srv.Listener.Addr().String(), "/", 40)
	require.NoError(t, err)
	defer ic.Close()
	assert.Equal(t, 40, ic.Len())
	assert.EqualValues(t, 40, requests.Load())
	require.Eventually(t, func() bool { return idle.Load() == 40 }, 5*time.Second, 10*time.Millisecond)

	_, err = OpenIdle(context.Background(), dial, srv.Listener.Addr().String(), "/", 0)
	require.NoError(t, err)
	srv404 := httptest.NewServer(http.NotFoundHandler())
	defer srv404.Close()
	_, err = OpenIdle(context.Background(), dial, srv404.Listener.Addr().String(), "/", 3)
	assert.ErrorContains(t, err, "404")
}
