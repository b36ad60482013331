package httpserve

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// routeCache remembers, for each method, host and raw path, what Config.Routes does with it,
// so that the fast path asks the ServeMux (which allocates) once per distinct request, not
// per request, and keeps the pages PageFuncs rendered. Like a site's cache of resolved paths
// it is bounded: when full it is emptied.
type routeCache struct {
	mu      sync.RWMutex
	entries map[string]*routed // key: see routeKey
}

// routed is what Routes does with one method, host and path.
type routed struct {
	handled bool   // a pattern of Routes matches, with a handler other than the Server
	page    bool   // that handler is a PageFunc: its pages are kept (GET and HEAD)
	label   string // the label a wildcard host matched, for HostLabel

	renderMu sync.Mutex               // one rendering at a time
	kept     atomic.Pointer[keptPage] // the page last rendered, or nil
}

// routeKey builds the cache key of a request into b: the method (HEAD as GET, which
// ServeMux patterns treat alike), the host's Config.Hosts entry ("" for the default site,
// so that foreign Host values share its entries rather than fill the cache) and the raw path.
func routeKey(b []byte, method, hostKey, path string) []byte {
	if method == "HEAD" {
		method = "GET"
	}
	b = append(b[:0], method...)
	b = append(b, 0)
	b = append(b, hostKey...)
	b = append(b, 0)
	return append(b, path...)
}

// routeFor returns what Routes does with a request, asking the ServeMux the first time.
func (s *Server) routeFor(req *request, sc *scratch) *routed {
	_, hostKey, label := s.hostFor(req.host, &sc.lower)
	sc.key = routeKey(sc.key, req.method, hostKey, req.path)
	c := &s.routes
	c.mu.RLock()
	e := c.entries[string(sc.key)]
	c.mu.RUnlock()
	if e != nil {
		return e
	}
	e = &routed{label: strings.Clone(label)}
	if u, err := url.ParseRequestURI(req.path); err == nil {
		r := &http.Request{Method: req.method, URL: u, Host: hostKey, Header: http.Header{}}
		h, pattern := s.cfg.Routes.Handler(r)
		if pattern != "" && h != http.Handler(s) {
			e.handled = true
			_, e.page = h.(PageFunc)
		}
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxRoutes {
		c.entries = make(map[string]*routed)
	}
	if old := c.entries[string(sc.key)]; old != nil {
		e = old // another request got here first: keep one entry, and one kept page
	} else {
		c.entries[string(sc.key)] = e
	}
	c.mu.Unlock()
	return e
}

// serveRoute hands r to Config.Routes, counting and logging its response. The Server is
// marked in r's context, so that a handler of Routes that is (or calls) the Server serves
// statically instead of going round again.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, label string) {
	s.serveHandler(s.cfg.Routes, w, s.withInfo(r, label))
}

// ServeStatic serves r from the site's content only, as if there were neither Routes nor
// Fallback: a path with no content gets the site's 404 page, and a method other than GET and
// HEAD on content that exists gets 405 (Allow: GET, HEAD). It is for handlers (of Routes,
// Fallback, or a mux in front of the Server) that decide to serve a request statically. The
// Server's own ServeHTTP behaves as ServeStatic on requests it has already handed to one of
// its handlers, so a mux whose "/" is the Server cannot loop.
func (s *Server) ServeStatic(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, true)
}
