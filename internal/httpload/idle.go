package httpload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// IdleConns are HTTP/1.1 keep-alive connections that have each made one request and read its
// whole response, and now sit idle: the server holds a live connection state for each,
// waiting for its next request.
type IdleConns struct {
	conns []net.Conn
}

// idleDialers is how many connections OpenIdle opens at once.
const idleDialers = 32

// OpenIdle opens n connections to addr (HOST:PORT) with dial, gets path on each (its status
// must be 200) and leaves them open. On an error it closes what it opened.
func OpenIdle(ctx context.Context, dial func(ctx context.Context, addr string) (net.Conn, error), addr, path string, n int) (*IdleConns, error) {
	ic := &IdleConns{conns: make([]net.Conn, n)}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, idleDialers)
	for range min(idleDialers, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c, err := openIdle(ctx, dial, addr, path)
				if err != nil {
					errs <- fmt.Errorf("idle connection %d: %w", i, err)
					return
				}
				ic.conns[i] = c
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		ic.Close()
		return nil, err
	}
	return ic, nil
}

// Len returns how many connections are open.
func (ic *IdleConns) Len() int { return len(ic.conns) }

// Close closes every connection.
func (ic *IdleConns) Close() {
	for i, c := range ic.conns {
		if c != nil {
			c.Close()
			ic.conns[i] = nil
		}
	}
}

// idleRequestTimeout bounds one connection's dial and request.
const idleRequestTimeout = 30 * time.Second

// openIdle connects to addr and gets path, leaving the connection open.
func openIdle(ctx context.Context, dial func(ctx context.Context, addr string) (net.Conn, error), addr, path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, idleRequestTimeout)
	defer cancel()
	c, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(idleRequestTimeout))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		c.Close()
		return nil, err
	}
	// The reader goes with this function: nothing follows the response on an idle
	// connection, so no bytes it buffered are lost.
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
	case resp.StatusCode != http.StatusOK:
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	case resp.Close:
		err = fmt.Errorf("GET %s: the server closes the connection", path)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
