package httpserve

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// hostSite holds a store and its current site generation.
type hostSite struct {
	store Store
	cur   atomic.Pointer[site]
	mu    sync.Mutex // serialises rebuilds
}

// siteFor returns the current site for a Host value (any case, with or without port), or
// nil. lower is scratch space for lower-casing; it does not allocate.
func (s *Server) siteFor(host string, lower *[256]byte) *site {
	hsite, _, _ := s.hostFor(host, lower)
	if hsite == nil {
		return nil
	}
	return hsite.current(s)
}

// hostFor finds the site of a Host value: the entry of Config.Hosts it names (key, a view of
// lower valid until lower is reused, and label, the part a wildcard matched, in lower case and
// also a view of lower),
// or the default site with key "". It does not allocate.
func (s *Server) hostFor(host string, lower *[256]byte) (hsite *hostSite, key, label string) {
	hsite = s.defaultSite
	if len(s.hosts) == 0 && len(s.wildcards) == 0 || host == "" {
		return hsite, "", ""
	}
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > len(lower) {
		return hsite, "", ""
	}
	n := copy(lower[:], h)
	for i := range n {
		if c := lower[i]; 'A' <= c && c <= 'Z' {
			lower[i] = c + 'a' - 'A'
		}
	}
	if x := s.hosts[string(lower[:n])]; x != nil {
		return x, unsafe.String(&lower[0], n), ""
	}
	if x, l := s.wildcardFor(lower[:n]); x != nil {
		return x, unsafe.String(&lower[0], n), unsafe.String(&lower[0], l)
	}
	return hsite, "", ""
}

// current returns the site of the store's current generation, building it after a change.
func (hsite *hostSite) current(s *Server) *site {
	gen := hsite.store.Generation()
	if st := hsite.cur.Load(); st != nil && st.gen == gen {
		return st
	}
	hsite.mu.Lock()
	defer hsite.mu.Unlock()
	if st := hsite.cur.Load(); st != nil && st.gen == gen {
		return st
	}
	st := newSite(s, hsite.store, gen)
	hsite.cur.Store(st)
	return st
}

// maxRoutes bounds each site's cache of resolved paths, so that requests for endless distinct
// paths cannot grow memory without limit: when a cache is full it is emptied.
const maxRoutes = 8192

// site is one store's content as served for one generation: the parsed rule files and the
// cache of resolved, prepared routes. A new site replaces it when the generation changes.
type site struct {
	srv       *Server
	store     Store
	gen       uint64
	redirects []redirectRule
	headers   []headerRule

	mu     sync.RWMutex
	byRaw  map[string]*route // raw request path (before the query) → route
	byPath map[string]*route // clean path → route

	notFoundMu    sync.Mutex
	notFoundPages map[string]*route // 404 pages by key, shared by the paths without _headers rules
}

// newSite builds the site of generation gen of st, reading its rule files unless
// Resolution.NoRules.
func newSite(srv *Server, st Store, gen uint64) *site {
	s := &site{srv: srv, store: st, gen: gen,
		byRaw: make(map[string]*route), byPath: make(map[string]*route)}
	if srv.cfg.Resolve.NoRules {
		return s
	}
	log := srv.cfg.Logger
	if e, err := st.Lookup(redirectsFile); err == nil {
		var warns []string
		s.redirects, warns = parseRedirects(string(e.Data))
		warnSkipped(log, warns)
	}
	if e, err := st.Lookup(headersFile); err == nil {
		var warns []string
		s.headers, warns = parseHeaders(string(e.Data))
		warnSkipped(log, warns)
	}
	return s
}

// routeFor resolves a raw request path (the part of the target before any '?'), using and
// filling the caches. scratch is a reusable buffer for the decoded path.
func (s *site) routeFor(raw string, scratch []byte) (*route, []byte) {
	s.mu.RLock()
	r := s.byRaw[raw]
	s.mu.RUnlock()
	if r != nil {
		return r, scratch
	}
	clean, err := cleanPath(scratch, raw)
	scratch = clean[:0]
	if err != nil {
		return badRoute, scratch
	}
	s.mu.RLock()
	r = s.byPath[string(clean)]
	s.mu.RUnlock()
	if r == nil {
		r = s.resolve(string(clean))
	}
	s.mu.Lock()
	if len(s.byRaw) >= maxRoutes {
		clear(s.byRaw)
	}
	if len(s.byPath) >= maxRoutes {
		clear(s.byPath)
	}
	s.byRaw[strings.Clone(raw)] = r
	s.byPath[string(clean)] = r
	s.mu.Unlock()
	return r, scratch
}

// badRoute answers refused paths.
var badRoute = &route{kind: routeBad, status: http.StatusBadRequest}

// warnSkipped logs the rules that parsing a rule file skipped.
func warnSkipped(log *slog.Logger, warns []string) {
	for _, w := range warns {
		log.Warn("httpserve: rule skipped", "rule", w)
	}
}
