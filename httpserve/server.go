package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// Defaults of Config's zero values.
const (
	// DefaultMaxHeaderBytes is near nginx's 8 KiB large_client_header_buffers: real browsers'
	// request heads are 0.5–2 KiB.
	DefaultMaxHeaderBytes = 8 << 10
	// DefaultReadHeaderTimeout bounds the time from a request's first byte to the end of its
	// head (and a TLS handshake).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout bounds the wait for the next request on a kept-alive connection.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultWriteTimeout bounds the writing of a batch of responses to a slow reader.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultMaxConns is the default cap on open connections.
	DefaultMaxConns = 10000
	// DefaultMaxRanges caps the ranges of a Range field; a field with more is ignored (200).
	DefaultMaxRanges = 16
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("httpserve: server closed")

// Resolution holds the clean-URL rules. The zero value behaves as GitHub Pages and Netlify do
// for the output of Jekyll, Hugo or Octopress: "/" and "/about/" serve "index.html" and
// "about/index.html"; "/about" serves "about.html" if it exists, else redirects to "/about/"
// when "about/index.html" exists; a missing page is answered with the nearest "404.html"
// (searching from the request's directory up to the root) and status 404; directories are
// never listed; paths with a segment starting with '.' are hidden (404).
type Resolution struct {
	// IndexName is the file served for a directory; "" means "index.html".
	IndexName string
	// NotFoundPage is the file name of 404 pages; "" means "404.html", "-" disables them.
	NotFoundPage string
	// NoHTMLExtension stops "/about" from serving "about.html".
	NoHTMLExtension bool
	// NoDirRedirect serves "/about" from "about/index.html" directly instead of redirecting
	// to "/about/" (relative links in the page then resolve against "/").
	NoDirRedirect bool
	// RedirectHTML redirects "/x.html" to "/x" (when "/x" serves it), avoiding duplicate URLs.
	RedirectHTML bool
	// RedirectIndex redirects "/x/index.html" to "/x/" (and "/index.html" to "/").
	RedirectIndex bool
	// StripTrailingSlash redirects "/file/" to "/file" when "file" or "file.html" exists, as
	// Netlify does; by default such a request is a 404, as on GitHub Pages.
	StripTrailingSlash bool
	// ShowDotfiles serves paths with segments starting with '.' (".well-known" needs it).
	ShowDotfiles bool
	// NoRules ignores the site's _headers and _redirects files (they are never served).
	NoRules bool
}

// Config configures a Server. The zero value of every field means its default.
type Config struct {
	// Store is the site served for any Host not in Hosts. Nil means only Hosts are served
	// (other hosts get 404, or Fallback).
	Store Store
	// Hosts maps host names (lower case, without port) to their sites: virtual hosts.
	Hosts map[string]Store
	// Resolve holds the clean-URL rules.
	Resolve Resolution
	// RedirectStatus is the status of the redirects httpserve makes itself (trailing slash,
	// RedirectHTML, RedirectIndex); 0 means 301. Redirects are always same-site, relative to
	// the root ("/about/"), never built from Host.
	RedirectStatus int
	// CacheControl returns the Cache-Control value of a successful response for a key and
	// its content type; nil means DefaultCacheControl. A _headers rule overrides it.
	CacheControl func(key, contentType string) string

	// Fallback answers what is not served statically: methods other than GET and HEAD,
	// requests with a body or Expect, hosts without a site, and paths with no content
	// (which would otherwise get the 404 page; use Server.NotFound to serve it). Nil means
	// 405 (with Allow: GET, HEAD), and the 404 page.
	//
	// An HTTP/1.1 connection carrying such a request is handed, with the bytes already read,
	// to a net/http Server that the Server runs inside, and stays with it: from then on,
	// its static requests too are answered through ServeHTTP (correct, but not the
	// allocation-free path). This keeps all of net/http's request-body and streaming
	// semantics for dynamic routes while static traffic keeps its fast path. On such a
	// connection over TLS, the handler's Request.TLS is nil (the connection reaches net/http
	// already decrypted); HTTP/2 requests carry it.
	Fallback http.Handler

	// TLS, if set, makes Serve speak TLS (crypto/tls); HTTP/2 is offered through ALPN
	// unless DisableHTTP2. The configuration needs Certificates or GetCertificate.
	TLS *tls.Config
	// H2C accepts HTTP/2 with prior knowledge on plain connections ("h2c"). The Upgrade
	// mechanism is never honoured.
	H2C bool
	// DisableHTTP2 turns off HTTP/2 (ALPN offers only http/1.1).
	DisableHTTP2 bool

	// ReadHeaderTimeout, IdleTimeout and WriteTimeout are described with their defaults;
	// a negative value disables the timeout.
	ReadHeaderTimeout, IdleTimeout, WriteTimeout time.Duration
	// MaxHeaderBytes caps a request head; 0 means DefaultMaxHeaderBytes. Larger: 431.
	MaxHeaderBytes int
	// MaxConns caps open connections; 0 means DefaultMaxConns. A connection over the cap
	// is answered 503 and closed.
	MaxConns int
	// MaxRanges caps the ranges honoured in one request; 0 means DefaultMaxRanges.
	MaxRanges int

	// AccessLog, if set, gets one Info record per request (method, host, path, status,
	// bytes, duration, remote address, protocol). Logging allocates; the fast path is
	// allocation-free only without it.
	AccessLog *slog.Logger
	// Logger gets warnings (rules skipped, connections refused); nil means slog.Default().
	Logger *slog.Logger
}

// Stats are a Server's counters.
type Stats struct {
	// Requests is the number of requests answered.
	Requests uint64
	// Status counts responses by class: Status[1] is 1xx … Status[5] is 5xx.
	Status [6]uint64
	// Bytes is the number of response bytes written (heads and bodies) by the fast path and
	// ServeHTTP bodies.
	Bytes uint64
	// Conns is the number of connections open now; Accepted how many were accepted;
	// Refused how many were closed at once because of MaxConns.
	Conns, Accepted, Refused uint64
	// HandedOff counts connections handed to net/http (Fallback) or HTTP/2.
	HandedOff uint64
}

// Server serves static sites from Stores over HTTP/1.1 (its own allocation-free parser and
// prepared responses), HTTP/2 (golang.org/x/net/http2) and TLS, on any net.Listener. It is also
// an http.Handler. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg       Config
	tlsConfig *tls.Config

	defaultSite *hostSite
	hosts       map[string]*hostSite

	errBlocks map[int][]byte // prepared built-in responses by status
	errRoutes map[int]*route
	missRoute *route // the built-in 404 of a path with no content

	// hs runs the connections handed to net/http (Fallback); h2s the HTTP/2 ones.
	hs       *http.Server
	h2s      *http2.Server
	handoff  *chanListener
	hsOnce   sync.Once
	hsDone   chan struct{}
	shutdown atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // connection goroutines
	closeOnce sync.Once

	requests, bytes, accepted, refused, handedOff atomic.Uint64
	open                                          atomic.Int64
	status                                        [6]atomic.Uint64
}

// hostSite holds a store and its current site generation.
type hostSite struct {
	store Store
	cur   atomic.Pointer[site]
	mu    sync.Mutex // serialises rebuilds
}

// New returns a Server for cfg. cfg is copied; its maps and handlers must not change later.
func New(cfg *Config) *Server {
	s := &Server{hsDone: make(chan struct{})}
	if cfg != nil {
		s.cfg = *cfg
	}
	c := &s.cfg
	if c.Resolve.IndexName == "" {
		c.Resolve.IndexName = "index.html"
	}
	if c.Resolve.NotFoundPage == "" {
		c.Resolve.NotFoundPage = "404.html"
	}
	if c.RedirectStatus == 0 {
		c.RedirectStatus = http.StatusMovedPermanently
	}
	if c.CacheControl == nil {
		c.CacheControl = DefaultCacheControl
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxRanges <= 0 {
		c.MaxRanges = DefaultMaxRanges
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Store != nil {
		s.defaultSite = &hostSite{store: c.Store}
	}
	s.hosts = make(map[string]*hostSite, len(c.Hosts))
	for h, st := range c.Hosts {
		s.hosts[strings.ToLower(h)] = &hostSite{store: st}
	}
	s.errBlocks = make(map[int][]byte)
	s.errRoutes = make(map[int]*route)
	for _, code := range []int{400, 404, 405, 410, 412, 416, 431, 500, 503, 505} {
		body := strconv.Itoa(code) + " " + strings.ToLower(http.StatusText(code)) + "\n"
		v := s.prepare(code, "", []byte(body), [32]byte{}, time.Time{}, "text/plain; charset=utf-8", "no-cache", false, nil)
		if code == http.StatusMethodNotAllowed {
			v.full = appendField(v.full, "Allow", "GET, HEAD")
			v.hdr["Allow"] = []string{"GET, HEAD"}
		}
		s.errBlocks[code] = v.full
		s.errRoutes[code] = &route{kind: routeContent, status: code, vars: []*variant{v}}
	}
	s.missRoute = &route{kind: routeContent, status: http.StatusNotFound, vars: s.errRoutes[404].vars, miss: true}
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
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: positive(c.ReadHeaderTimeout),
		IdleTimeout:       positive(c.IdleTimeout),
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn),
	}
	s.h2s = &http2.Server{IdleTimeout: positive(c.IdleTimeout), MaxReadFrameSize: 1 << 20}
	if err := http2.ConfigureServer(s.hs, s.h2s); err != nil {
		panic("httpserve: configuring HTTP/2: " + err.Error()) // only fails for bad TLS configs, which hs has none of
	}
	s.handoff = newChanListener()
	return s
}

func positive(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// builtin returns the prepared plain-text answer of a status.
func (s *Server) builtin(status int) *route {
	if r := s.errRoutes[status]; r != nil {
		return r
	}
	return s.errRoutes[http.StatusNotFound]
}

// siteFor returns the current site for a Host value (any case, with or without port), or
// nil. lower is scratch space for lower-casing; it does not allocate.
func (s *Server) siteFor(host string, lower *[256]byte) *site {
	hs := s.defaultSite
	if len(s.hosts) > 0 && host != "" {
		h := host
		if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
			h = h[:i]
		}
		h = strings.TrimSuffix(h, ".")
		if len(h) <= len(lower) {
			n := copy(lower[:], h)
			for i := range n {
				if c := lower[i]; 'A' <= c && c <= 'Z' {
					lower[i] = c + 'a' - 'A'
				}
			}
			if x := s.hosts[string(lower[:n])]; x != nil {
				hs = x
			}
		}
	}
	if hs == nil {
		return nil
	}
	gen := hs.store.Generation()
	if st := hs.cur.Load(); st != nil && st.gen == gen {
		return st
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if st := hs.cur.Load(); st != nil && st.gen == gen {
		return st
	}
	st := newSite(s, hs.store, gen)
	hs.cur.Store(st)
	return st
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

// refuse answers 503 to a connection over the cap and closes it, without waiting for its
// request.
func (s *Server) refuse(c net.Conn) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.SetWriteDeadline(time.Now().Add(time.Second))
		b := append([]byte(nil), s.errBlocks[http.StatusServiceUnavailable]...)
		b = append(b, "Connection: close\r\n\r\n"...)
		b = append(b, "503 service unavailable\n"...)
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

func (s *Server) beginShutdown() {
	s.mu.Lock()
	s.shutdown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.closeOnce.Do(func() {
		s.handoff.Close()
		s.hsOnce.Do(func() { close(s.hsDone) }) // hs never started: nothing to wait for
	})
}

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

func (s *Server) closeConns() {
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Requests:  s.requests.Load(),
		Bytes:     s.bytes.Load(),
		Conns:     uint64(max(s.open.Load(), 0)),
		Accepted:  s.accepted.Load(),
		Refused:   s.refused.Load(),
		HandedOff: s.handedOff.Load(),
	}
	for i := range st.Status {
		st.Status[i] = s.status[i].Load()
	}
	return st
}

// count records one answered request.
func (s *Server) count(status int, n int) {
	s.requests.Add(1)
	if c := status / 100; c >= 1 && c <= 5 {
		s.status[c].Add(1)
	}
	s.bytes.Add(uint64(n))
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

// chanListener is the net.Listener of the inner net/http server: Accept returns the
// connections the fast path hands over.
type chanListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

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

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *replayConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}

var _ io.Reader = (*replayConn)(nil)
