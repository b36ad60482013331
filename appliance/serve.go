package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Port is one TCP port of the stack and what serves it: an http.Handler, or a server of the
// application's own.
type Port struct {
	// Number is the TCP port on the stack, e.g. 80.
	Number uint16
	// Name says what the port serves in the line [App.Run] prints for it ("pprof", "12 files");
	// optional.
	Name string

	// Handler serves the port's requests with a net/http server made for it. Exactly one of
	// Handler and Server is set.
	Handler http.Handler
	// Server serves the port with a server of the application's own, such as an
	// httpserve.Server or an http.Server with settings of its own.
	Server Server

	// TLS marks the port as speaking TLS. With Handler, the port serves HTTPS (and HTTP/2
	// through ALPN) with this configuration. A Server must be configured for TLS itself
	// (httpserve.Config.TLS); TLS then only makes the printed URL https.
	TLS *tls.Config
}

// Server is what serves a port: *http.Server and *httpserve.Server satisfy it.
type Server interface {
	// Serve accepts connections on the listener until Shutdown or Close.
	Serve(net.Listener) error
	// Shutdown closes the listeners, lets requests in progress finish and returns when every
	// connection has ended, or with ctx's error when ctx is done first.
	Shutdown(ctx context.Context) error
	// Close closes the listeners and every connection at once.
	Close() error
}

// readHeaderTimeout bounds how long a client of a Handler port may take to send a request's
// header, against connections that hold a goroutine by sending nothing.
const readHeaderTimeout = 10 * time.Second

// server returns the port's server, making one for a Handler that logs its errors (failed TLS
// handshakes, panics in handlers) to log.
func (p *Port) server(log *slog.Logger) Server {
	if p.Server != nil {
		return p.Server
	}
	hs := &http.Server{Handler: p.Handler, ReadHeaderTimeout: readHeaderTimeout, TLSConfig: p.TLS,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if p.TLS != nil {
		return tlsServer{hs}
	}
	return hs
}

// tlsServer serves HTTPS with the http.Server's TLSConfig.
type tlsServer struct{ *http.Server }

// Serve implements Server with ServeTLS, which also offers HTTP/2.
func (s tlsServer) Serve(ln net.Listener) error { return s.ServeTLS(ln, "", "") }

// scheme returns "https" for a TLS port, else "http".
func (p *Port) scheme() string {
	if p.TLS != nil {
		return "https"
	}
	return "http"
}

// checkPorts reports ports that cannot be served together.
func checkPorts(ports []Port) error {
	seen := map[uint16]bool{}
	for _, p := range ports {
		switch {
		case p.Number == 0 || seen[p.Number]:
			return fmt.Errorf("appliance: port %d: each port must be 1 to 65535 and served once", p.Number)
		case (p.Handler == nil) == (p.Server == nil):
			return fmt.Errorf("appliance: port %d: set exactly one of Handler and Server", p.Number)
		}
		seen[p.Number] = true
	}
	return nil
}

// numbers returns the ports' numbers, for Open.
func numbers(ports []Port) []uint16 {
	n := make([]uint16, len(ports))
	for i, p := range ports {
		n[i] = p.Number
	}
	return n
}

// Serving is a set of ports being served on a [Network], each by its own server on its own
// goroutine.
type Serving struct {
	ports   []Port
	servers []Server
	lns     []net.Listener

	failed chan error // the first server that stopped by itself
	wg     sync.WaitGroup

	mu       sync.Mutex
	stopping bool // Shutdown has begun: servers stopping are expected to
}

// Serve listens on each port (which the network must have been opened for) and serves it
// until [Serving.Shutdown]. On error nothing is left listening.
func (n *Network) Serve(ports ...Port) (*Serving, error) {
	if err := checkPorts(ports); err != nil {
		return nil, err
	}
	s := &Serving{ports: slices.Clone(ports), failed: make(chan error, 1)}
	for _, p := range s.ports {
		ln, err := n.Listen(p.Number)
		if err != nil {
			for _, ln := range s.lns {
				ln.Close()
			}
			return nil, err
		}
		s.lns = append(s.lns, ln)
	}
	for i := range s.ports {
		srv := s.ports[i].server(n.log)
		s.servers = append(s.servers, srv)
		s.wg.Add(1)
		go s.serve(&s.ports[i], srv, s.lns[i])
	}
	return s, nil
}

// serve runs srv on ln and reports it if it stops before Shutdown.
func (s *Serving) serve(p *Port, srv Server, ln net.Listener) {
	defer s.wg.Done()
	err := srv.Serve(ln)
	ln.Close() // most servers close it themselves; not every one
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		return
	}
	if err == nil {
		err = errors.New("stopped serving")
	}
	select {
	case s.failed <- fmt.Errorf("appliance: serving port %d: %w", p.Number, err):
	default: // another server failed first
	}
}

// Failed yields an error when a server stops serving before Shutdown, which only a failure
// does (the first one, if several fail).
func (s *Serving) Failed() <-chan error { return s.failed }

// Shutdown stops every server gracefully and at once: each closes its listener and lets the
// requests in progress finish. When ctx is done first, the servers close their remaining
// connections, and Shutdown returns ctx's error. It returns once every server's Serve has
// returned.
func (s *Serving) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	errs := make([]error, len(s.servers))
	var wg sync.WaitGroup
	for i, srv := range s.servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
				errs[i] = fmt.Errorf("appliance: shutting down port %d: %w", s.ports[i].Number, err)
			}
		})
	}
	wg.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}
