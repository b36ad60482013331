package httpserve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// initHandoff creates the servers that take the connections the fast path hands over: hs,
// net/http's, for Fallback, and h2s for HTTP/2. hs starts on the first handoff.
func (s *Server) initHandoff() {
	c := &s.cfg
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: netHTTPTimeout(c.ReadHeaderTimeout),
		IdleTimeout:       netHTTPTimeout(c.IdleTimeout),
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn),
	}
	s.h2s = &http2.Server{IdleTimeout: netHTTPTimeout(c.IdleTimeout), MaxReadFrameSize: 1 << 20}
	if err := http2.ConfigureServer(s.hs, s.h2s); err != nil {
		panic("httpserve: configuring HTTP/2: " + err.Error()) // only fails for bad TLS configs, which hs has none of
	}
	s.handoff = newChanListener()
	s.hsDone = make(chan struct{})
}

// netHTTPTimeout converts a Config timeout (negative: disabled) to net/http's (zero: none).
func netHTTPTimeout(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// startHandoff starts the net/http server for handed-off connections, once.
func (s *Server) startHandoff() {
	s.hsOnce.Do(func() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(s.hsDone)
			s.hs.Serve(s.handoff)
		}()
	})
}

// handOff gives the connection, with the unread bytes (starting at the current request),
// to the inner net/http server, which serves Config.Fallback.
func (c *conn) handOff(buffered []byte) {
	s := c.srv
	c.nc.SetDeadline(time.Time{})
	rc := &replayConn{Conn: c.nc, buf: append([]byte(nil), buffered...), onClose: func() { s.open.Add(-1) }}
	c.handedOff = true
	s.handedOff.Add(1)
	s.startHandoff()
	if !s.handoff.put(rc) {
		rc.Close()
	}
}

// serveH2 serves an HTTP/2 connection (after ALPN "h2", or an h2c preface) with ServeHTTP.
func (c *conn) serveH2(nc net.Conn) {
	s := c.srv
	s.handedOff.Add(1)
	c.nc.SetDeadline(time.Time{})
	s.h2s.ServeConn(nc, &http2.ServeConnOpts{
		Context:    context.Background(),
		BaseConfig: s.hs,
		Handler:    s,
	})
}

// chanListener is the net.Listener of the inner net/http server: Accept returns the
// connections the fast path hands over.
type chanListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

// newChanListener returns an open chanListener.
func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the next connection handed over, or net.ErrClosed once l is closed.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and put fail from now on; it is idempotent.
func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

// Addr returns a placeholder: the connections come from the Server's own listeners.
func (l *chanListener) Addr() net.Addr { return handoffAddr{} }

// put hands c to the net/http server; false if it is closed.
func (l *chanListener) put(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// handoffAddr is the address of a chanListener.
type handoffAddr struct{}

func (handoffAddr) Network() string { return "httpserve" }
func (handoffAddr) String() string  { return "httpserve-handoff" }

// replayConn is a connection whose first reads return bytes already read from it, and whose
// Close runs a hook once (to release its place under MaxConns).
type replayConn struct {
	net.Conn
	buf     []byte
	onClose func()
	once    sync.Once
}

// Read returns the replayed bytes first, then reads the connection.
func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Close closes the connection and runs onClose the first time.
func (c *replayConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}

var _ io.Reader = (*replayConn)(nil)
