package xenstore_test

import (
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
	"github.com/unikit/unikit/xenfront/xentest"
)

// ringClient connects a xenstore client in dom1 to the simulated xenstored in dom0 over a
// shared xenstore_domain_interface page and an event channel, as a PV/PVH guest talks to
// xenstored.
func ringClient(t *testing.T) (*xentest.Hypervisor, *xenstore.Client) {
	h, c, _ := ringClientCloser(t)
	return h, c
}

// ringClientCloser is ringClient that also returns a function closing both ends.
func ringClientCloser(t *testing.T) (*xentest.Hypervisor, *xenstore.Client, func()) {
	t.Helper()
	h := xentest.New()
	page := make([]byte, xenfront.PageSize)
	gev, sev := h.Domain(1).EventChannels(), h.Domain(0).EventChannels()
	gp, err := gev.AllocUnbound(0)
	require.NoError(t, err)
	sp, err := sev.BindInterdomain(1, gp)
	require.NoError(t, err)
	guest, err := xenstore.NewRing(page, gev, gp, false)
	require.NoError(t, err)
	server, err := xenstore.NewRing(page, sev, sp, true)
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = h.Xenstored().Serve(server, 1)
	}()
	c := xenstore.NewClient(guest)
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			c.Close()
			server.Close()
			<-served
		})
	}
	t.Cleanup(closeAll)
	return h, c, closeAll
}

func TestClientOverRing(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		h, c, closeAll := ringClientCloser(t)
		defer closeAll()
		require.NoError(t, c.Write(0, "device/vif/0/mac", "00:16:3e:00:00:01"))
		v, err := c.Read(0, "device/vif/0/mac")
		require.NoError(t, err)
		require.Equal(t, "00:16:3e:00:00:01", v)
		// Relative paths live under the domain's home.
		v, err = h.Domain(0).Store().Read(0, "/local/domain/1/device/vif/0/mac")
		require.NoError(t, err)
		require.Equal(t, "00:16:3e:00:00:01", v)

		_, err = c.Read(0, "device/vif/9/mac")
		require.ErrorIs(t, err, xenstore.ErrNotFound)

		require.NoError(t, c.Write(0, "device/vif/1/state", "1"))
		names, err := c.Directory(0, "device/vif")
		require.NoError(t, err)
		require.Equal(t, []string{"0", "1"}, names)
		require.NoError(t, c.Remove(0, "device/vif/1"))
		names, err = c.Directory(0, "device/vif")
		require.NoError(t, err)
		require.Equal(t, []string{"0"}, names)

		// A 3000-byte value crosses the 1024-byte rings several times.
		big := strings.Repeat("0123456789", 300)
		require.NoError(t, c.Write(0, "big", big))
		v, err = c.Read(0, "big")
		require.NoError(t, err)
		require.Equal(t, big, v)

		// Concurrent requests are matched to their replies by req_id.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := "c/" + strconv.Itoa(i)
				for j := range 20 {
					require.NoError(t, c.Write(0, k, strconv.Itoa(j)))
					v, err := c.Read(0, k)
					require.NoError(t, err)
					require.Equal(t, strconv.Itoa(j), v)
				}
			}()
		}
		wg.Wait()
		c.Close()
	}()
	leaktest.Settle(t, before)
}

func TestClientWatch(t *testing.T) {
	h, c := ringClient(t)
	w, err := c.Watch("/local/domain/0/backend")
	require.NoError(t, err)
	next := func() string {
		select {
		case p := <-w.C:
			return p
		case <-time.After(5 * time.Second):
			t.Fatal("no watch event")
			return ""
		}
	}
	require.Equal(t, "/local/domain/0/backend", next(), "a new watch fires once")
	require.NoError(t, h.Domain(0).Store().Write(0, "backend/vif/1/0/state", "2"))
	require.Equal(t, "/local/domain/0/backend/vif/1/0/state", next())
	require.NoError(t, w.Close())
	require.NoError(t, h.Domain(0).Store().Write(0, "backend/vif/1/0/state", "4"))
	_, open := <-w.C
	require.False(t, open, "closed watch delivers nothing more")
}

func TestClientTransaction(t *testing.T) {
	h, c := ringClient(t)
	tx, err := c.Start()
	require.NoError(t, err)
	require.NoError(t, c.Write(tx, "a", "1"))
	_, err = c.Read(0, "a")
	require.ErrorIs(t, err, xenstore.ErrNotFound, "uncommitted writes are invisible outside")
	v, err := c.Read(tx, "a")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	require.NoError(t, c.End(tx, true))
	v, err = c.Read(0, "a")
	require.NoError(t, err)
	require.Equal(t, "1", v)

	// A conflicting change makes the commit fail with EAGAIN.
	tx, err = c.Start()
	require.NoError(t, err)
	require.NoError(t, c.Write(tx, "a", "2"))
	require.NoError(t, h.Domain(0).Store().Write(0, "/other", "x"))
	require.ErrorIs(t, c.End(tx, true), xenstore.ErrAgain)
	v, _ = c.Read(0, "a")
	require.Equal(t, "1", v)

	// Aborted transactions change nothing.
	tx, err = c.Start()
	require.NoError(t, err)
	require.NoError(t, c.Write(tx, "a", "3"))
	require.NoError(t, c.End(tx, false))
	v, _ = c.Read(0, "a")
	require.Equal(t, "1", v)
}

// TestClientBrokenServer checks that a server writing garbage ends the client's requests
// with an error instead of hanging or panicking.
func TestClientBrokenServer(t *testing.T) {
	srv, cli := pipePair()
	c := xenstore.NewClient(cli)
	go func() {
		buf := make([]byte, 64)
		_, _ = srv.Read(buf)
		_, _ = srv.Write([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xff, 0xff, 0xff, 0xff})
	}()
	_, err := c.Read(0, "x")
	require.ErrorIs(t, err, xenstore.ErrClosed)
	require.ErrorIs(t, err, xenstore.ErrProtocol)
	c.Close()
	srv.Close()
}

type pipeConn struct {
	io.Reader
	io.WriteCloser
}

func pipePair() (a, b io.ReadWriteCloser) {
	r1, w1 := io.Pipe()
	r2, w2 := io.Pipe()
	return pipeConn{r1, w2}, pipeConn{r2, w1}
}
