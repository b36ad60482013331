package httpserve

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/unikit/unikit/kv"
)

// Page is a response an application renders for the Server to keep and serve as it serves a
// static file: prepared once (strong ETag from its digest, 304, Range, gzip and brotli
// variants, HEAD), then answered without calling the application again, and without a heap
// allocation on the fast path, until Config.RoutesGeneration changes or Expires passes.
type Page struct {
	// Status is 200 (the zero value), 404 or 410. Only 200 pages take part in conditional
	// and range requests, and only they get compressed variants.
	Status int
	// ContentType defaults to "text/html; charset=utf-8".
	ContentType string
	// Body is the rendered page; the Server keeps it, so it must not be modified afterwards.
	Body []byte
	// Modified, if set, is sent as Last-Modified.
	Modified time.Time
	// Expires, if set, is when the page must be rendered again (by Config.Clock), such as the
	// date of the next scheduled post. Zero: only when Config.RoutesGeneration changes.
	Expires time.Time
	// CacheControl defaults to "no-cache" (browsers revalidate, getting 304 while the page
	// is unchanged).
	CacheControl string
}

// PageFunc is a handler of Config.Routes whose pages the Server keeps: for a GET or HEAD, the
// Server calls it once for a site (the entry of Config.Hosts, or the default site) and raw
// path, and then serves the Page it returned until it is stale. The request it gets carries
// the method, URL (without the query, which is not part of what is kept), Host and path
// values; a page must depend on nothing else (neither header fields nor the query), since it
// is served to every request for that site and path. An error is answered with 500 and not
// kept.
//
// Outside a Server (under a plain http.Server), a PageFunc writes its page on every request.
type PageFunc func(r *http.Request) (*Page, error)

// ServeHTTP hands the page to the Server that called it, or writes it.
func (f PageFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := f(r)
	if pw, ok := w.(*pageWriter); ok {
		pw.page, pw.err, pw.called = p, err, true
		return
	}
	if err != nil {
		http.Error(w, "500 internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", p.contentType())
	h.Set("Content-Length", strconv.Itoa(len(p.Body)))
	w.WriteHeader(p.status())
	if r.Method != "HEAD" {
		w.Write(p.Body)
	}
}

// status returns the page's status, 200 by default.
func (p *Page) status() int {
	if p.Status == 0 {
		return http.StatusOK
	}
	return p.Status
}

// contentType returns the page's media type, HTML by default.
func (p *Page) contentType() string {
	if p.ContentType == "" {
		return "text/html; charset=utf-8"
	}
	return p.ContentType
}

// pageWriter is the ResponseWriter the Server passes through Routes to a PageFunc, which
// recognises it and hands its Page over instead of writing. Anything else written to it
// (a handler that is not a PageFunc after all) is discarded.
type pageWriter struct {
	header http.Header
	page   *Page
	err    error
	called bool
}

// Header returns a header map that is discarded.
func (w *pageWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// Write discards b.
func (w *pageWriter) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader discards the status.
func (w *pageWriter) WriteHeader(int) {}

// keptPage is a rendered page prepared as a route, with what makes it stale.
type keptPage struct {
	route   *route
	gen     uint64
	expires time.Time
}

// pageEncodings are the variants prepared for a page, as kv prepares a static file's.
var pageEncodings = []string{kv.EncodingBrotli, kv.EncodingGzip}

// fresh returns e's kept page if it is still current, or nil. It does not allocate.
func (s *Server) fresh(e *routed) *keptPage {
	k := e.kept.Load()
	if k == nil || k.gen != s.routesGeneration() {
		return nil
	}
	if !k.expires.IsZero() && !s.now().Before(k.expires) {
		return nil
	}
	return k
}

// routesGeneration returns Config.RoutesGeneration(), or 0 without one.
func (s *Server) routesGeneration() uint64 {
	if s.cfg.RoutesGeneration == nil {
		return 0
	}
	return s.cfg.RoutesGeneration()
}

// now returns Config.Clock(), or the time.
func (s *Server) now() time.Time {
	if s.cfg.Clock == nil {
		return time.Now()
	}
	return s.cfg.Clock()
}

// renderPage renders and keeps the page of e for a request r (whose method is GET or HEAD),
// unless another request has just done it, and returns the page kept, or nil when the
// handler failed (its error is logged).
func (s *Server) renderPage(e *routed, r *http.Request) *keptPage {
	e.renderMu.Lock()
	defer e.renderMu.Unlock()
	if k := s.fresh(e); k != nil {
		return k
	}
	gen := s.routesGeneration()
	get := r
	if r.Method != "GET" || r.URL.RawQuery != "" {
		get = r.Clone(r.Context())
		get.Method = "GET"
		get.URL.RawQuery = ""
	}
	pw := &pageWriter{}
	s.cfg.Routes.ServeHTTP(pw, s.withInfo(get, e.label))
	if !pw.called || pw.err != nil || pw.page == nil {
		s.cfg.Logger.Warn("httpserve: page not rendered", "path", r.URL.Path, "error", pw.err)
		return nil
	}
	k, err := preparePage(pw.page)
	if err != nil {
		s.cfg.Logger.Warn("httpserve: page not prepared", "path", r.URL.Path, "error", err)
		return nil
	}
	k.gen = gen
	e.kept.Store(k)
	return k
}

// preparePage prepares a rendered page as static content is prepared.
func preparePage(p *Page) (*keptPage, error) {
	status := p.status()
	var encs []string
	if status == http.StatusOK {
		// Error pages are not compressed: a request for any path under a pattern can make
		// one, and compressing each would let a client buy server CPU with random paths.
		encs = pageEncodings
	}
	m := kv.NewMem(&kv.MemConfig{Encodings: encs})
	if err := m.SetMeta("page", p.Body, kv.Meta{ContentType: p.contentType(), ModTime: p.Modified}); err != nil {
		return nil, err
	}
	ent, err := m.Lookup("page")
	if err != nil {
		return nil, err
	}
	cc := p.CacheControl
	if cc == "" {
		cc = "no-cache"
	}
	rt := &route{kind: routeContent, status: status, conditional: status == http.StatusOK,
		vars: prepareVariants(status, ent, cc, nil)}
	return &keptPage{route: rt, expires: p.Expires}, nil
}

// pageRequest builds the *http.Request a PageFunc gets for a fast-path request. Its strings
// are copies: the request's view the connection's buffer, which the next request overwrites.
func pageRequest(req *request, remote string) (*http.Request, error) {
	path, host := strings.Clone(req.path), strings.Clone(req.host)
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, err
	}
	return &http.Request{Method: "GET", URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: host, RequestURI: path, RemoteAddr: remote,
		Body: http.NoBody}, nil
}
