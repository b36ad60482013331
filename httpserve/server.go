package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/internal/parktick"
	"golang.org/x/net/http2"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("httpserve: server closed")

// Server serves static sites from Stores over HTTP/1.1 (its own allocation-free parser and
// prepared responses), HTTP/2 (golang.org/x/net/http2) and TLS, on any net.Listener. It is also
// an http.Handler. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg       Config
	tlsConfig *tls.Config

	defaultSite *hostSite
	hosts       map[string]*hostSite
	wildcards   map[string]*hostSite // "*.example.org" of Config.Hosts, keyed "example.org"
	routes      routeCache

	// connBufs pools the fast-path connections' buffers (*connBuffers).
	connBufs *sync.Pool
	// seals bounds the sealed body files the server keeps for sendfile (see bodyFile).
	seals sealBudget

	builtins  map[int]*route // prepared plain-text answers by status (see builtin)
	missRoute *route         // the built-in 404 of a path with no content

	// hs runs the connections handed to net/http (Fallback) once startHandoff has started it,
	// and hsDone closes when it has returned; h2s runs the HTTP/2 ones (see initHandoff).
	hs      *http.Server
	h2s     *http2.Server
	handoff *chanListener
	hsOnce  sync.Once
	hsDone  chan struct{}

	// mu guards listeners and conns; shutdown is set under it and may be read without it.
	mu        sync.Mutex
	shutdown  atomic.Bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // connections (a parked one has no goroutine)
	closeOnce sync.Once      // closes the handoff and stops the parker

	// The parker parks connections that have waited a while for a request (see waitRead);
	// parkClock is its clock.
	parkerOnce sync.Once
	parkerStop chan struct{}
	parkClock  parktick.Clock

	// The counters behind Stats; open counts the connections holding a place under MaxConns.
	requests, bytes, accepted, refused, handedOff, prepared atomic.Uint64
	open                                                    atomic.Int64
	status                                                  [6]atomic.Uint64
}

// New returns a Server for cfg. cfg is copied; its maps and handlers must not change later.
func New(cfg *Config) *Server {
	s := &Server{}
	if cfg != nil {
		s.cfg = *cfg
	}
	c := &s.cfg
	c.fillDefaults()
	if c.Store != nil {
		s.defaultSite = &hostSite{store: c.Store}
	}
	s.hosts, s.wildcards = splitHosts(c.Hosts)
	s.prepareBuiltins()
	if c.TLS != nil {
		s.tlsConfig = c.TLS.Clone()
		if len(s.tlsConfig.NextProtos) == 0 {
			if !c.DisableHTTP2 {
				s.tlsConfig.NextProtos = []string{"h2", "http/1.1"}
			} else {
				s.tlsConfig.NextProtos = []string{"http/1.1"}
			}
		}
	}
	s.listeners = make(map[net.Listener]struct{})
	s.conns = make(map[*conn]struct{})
	s.parkerStop = make(chan struct{})
	s.connBufs = newConnBuffers(c)
	s.seals.max = defaultMaxSealed
	s.initHandoff()
	return s
}

// Serve accepts connections on l and serves them until Shutdown or Close, then returns
// ErrServerClosed (or the listener's error). Serve may be called for several listeners at
// once: the kernel's (net.Listen) or a netstack Stack's. Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() && !errors.Is(err, net.ErrClosed) {
				// EMFILE and the like: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accepted.Add(1)
		if s.open.Load() >= int64(s.cfg.MaxConns) {
			s.refused.Add(1)
			s.refuse(c)
			continue
		}
		s.startConn(c)
	}
}

// startConn registers nc, which holds a place under MaxConns from now on, and serves it on
// its own goroutine; during shutdown it closes nc instead.
func (s *Server) startConn(nc net.Conn) {
	c := &conn{srv: s, nc: nc, firstRequest: true}
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.open.Add(1)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

// endConn undoes startConn when c's goroutine ends. A connection handed to net/http keeps
// its place under MaxConns until net/http closes it (see handOff).
func (s *Server) endConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if !c.handedOff {
		c.nc.Close()
		s.open.Add(-1)
	}
	s.wg.Done()
}

// refuse answers 503 to a connection over the cap and closes it, without waiting for its
// request.
func (s *Server) refuse(c net.Conn) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.SetWriteDeadline(time.Now().Add(time.Second))
		v := s.builtin(http.StatusServiceUnavailable).vars[0]
		b := append([]byte(nil), v.full...)
		b = append(b, "Connection: close\r\n\r\n"...)
		b = append(b, v.data...)
		c.Write(b)
		c.Close()
	}()
}

// ListenAndServe listens on the kernel's TCP address addr and serves it.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Shutdown stops the server gracefully: it closes the listeners, closes idle connections,
// lets requests in progress finish (HTTP/2 connections get GOAWAY), and waits for every
// connection to end or ctx to be done, in which case it closes the rest and returns
// ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	hsErr := make(chan error, 1)
	go func() { hsErr <- s.hs.Shutdown(ctx) }()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.wakeIdle()
		select {
		case <-done:
			err := <-hsErr
			s.waitHandoff()
			return err
		case <-ctx.Done():
			s.closeConns()
			<-done
			<-hsErr
			s.hs.Close()
			s.waitHandoff()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once, and waits for their goroutines.
// It is idempotent.
func (s *Server) Close() error {
	s.beginShutdown()
	s.closeConns()
	err := s.hs.Close()
	s.wg.Wait()
	s.waitHandoff()
	return err
}

// beginShutdown refuses new connections and closes the listeners, and stops the handoff to
// net/http.
func (s *Server) beginShutdown() {
	s.mu.Lock()
	s.shutdown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.closeOnce.Do(func() {
		close(s.parkerStop)
		s.handoff.Close()
		s.hsOnce.Do(func() { close(s.hsDone) }) // hs never started: nothing to wait for
	})
}

// waitHandoff waits until the net/http server of handed-off connections has returned, or
// is known never to start.
func (s *Server) waitHandoff() { <-s.hsDone }

// wakeIdle makes connections waiting for a request notice the shutdown.
func (s *Server) wakeIdle() {
	s.mu.Lock()
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	}
	s.mu.Unlock()
}

// closeConns closes every connection still registered: fast-path and HTTP/2 ones (hs.Close
// closes those handed to net/http).
func (s *Server) closeConns() {
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
}
