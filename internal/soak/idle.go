//go:build linux

package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Idle opens the mode's idle keep-alive connections to a fresh appliance, each after one
// request for the 1 KiB file, and holds them: it reports the resident memory and goroutines
// each costs, and checks that fresh requests are served while they are held, that every one of
// them answers a second request, and that memory returns once they close.
func Idle(t *testing.T, bin string, site *Site, n *Net, m Mode) *IdleResult {
	limit := fdLimit()
	require.Greater(t, limit, uint64(m.Idle+256), "the open-file limit is too low for %d connections", m.Idle)
	a := Start(t, bin, n, "-site", site.Dir)
	base := a.Baseline(t)
	r := &IdleResult{Conns: m.Idle, BaselineRSS: base.RSS}

	conns := make([]*idleConn, m.Idle)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, m.Idle)
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < m.Idle; i = int(next.Add(1)) - 1 {
				c, err := openIdle(a)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	for err := range errs {
		require.NoError(t, err, "opening idle connections")
	}
	time.Sleep(2 * time.Second) // let the appliance settle with them
	held := a.Now(t)
	r.HeldRSS = held.RSS
	r.BytesPerConn = float64(held.RSS-base.RSS) / float64(m.Idle)
	r.GoroutinesPerConn = float64(int64(held.Goroutines)-int64(base.Goroutines)) / float64(m.Idle)

	for i := range 2 * len(Files) {
		f := Files[i%len(Files)]
		if body, _, err := a.Get(context.Background(), f.Path()); assert.NoError(t, err) && assert.Len(t, body, f.Size) {
			r.ServedWhileIdle++
		}
	}
	next.Store(0)
	var again atomic.Int32
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < m.Idle; i = int(next.Add(1)) - 1 {
				if conns[i].get() == nil {
					again.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r.ServedAgain = int(again.Load())
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	r.AfterRSS, r.ReturnedIn = awaitReturn(t, a, base, m.Idle)

	t.Logf("%s: %d idle connections: %.1f → %.1f MiB, %.1f KiB and %.2f goroutines each; %d fresh requests served, %d answered again; back to %.1f MiB in %.0f s",
		n.Name, m.Idle, mib(base.RSS), mib(held.RSS), r.BytesPerConn/1024, r.GoroutinesPerConn,
		r.ServedWhileIdle, r.ServedAgain, mib(r.AfterRSS), r.ReturnedIn)
	assert.Equal(t, 2*len(Files), r.ServedWhileIdle)
	assert.Equal(t, m.Idle, r.ServedAgain, "idle connections that did not answer a second request")
	assert.LessOrEqual(t, r.AfterRSS, base.RSS+returnSlack(m.Idle), "memory did not return within %v of their closing", ReturnWait)
	a.Stop(t)
	return r
}

// idleConn is a kept-alive connection with its reader.
type idleConn struct {
	net.Conn
	r *bufio.Reader
}

// openIdle connects and gets the 1 KiB file, leaving the connection open.
func openIdle(a *Appliance) (*idleConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.Dial(ctx)
	if err != nil {
		return nil, err
	}
	ic := &idleConn{Conn: c, r: bufio.NewReaderSize(c, 2048)}
	if err := ic.get(); err != nil {
		c.Close()
		return nil, err
	}
	return ic, nil
}

// get requests the 1 KiB file on the connection and reads the response.
func (c *idleConn) get() error {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /1k.bin HTTP/1.1\r\nHost: soak\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && (resp.StatusCode != http.StatusOK || n != 1<<10) {
		err = fmt.Errorf("GET /1k.bin: %s, %d bytes", resp.Status, n)
	}
	return err
}
