package httpserve

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/unikit/unikit/kv"
)

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

	pagesMu sync.Mutex
	pages   map[string]*route // 404 pages by key, shared by the paths without _headers rules
}

// routeKind says how a route answers.
type routeKind uint8

const (
	routeContent  routeKind = iota // vars holds the variants; status is 200, 404 or 410
	routeRedirect                  // location holds the target
	routeBad                       // the path was refused: 400
)

// route is the resolved, prepared answer for one request path of one site generation.
type route struct {
	kind      routeKind
	status    int
	location  string     // routeRedirect: the Location without the request's query
	keepQuery bool       // routeRedirect: the request's query is appended to location
	redirect  []byte     // routeRedirect: prepared block ending in "Location: " + location
	vars      []*variant // routeContent: identity first, then precompressed forms
	// miss is set on the 404 answers of paths with no content (not on rules' 404s), which
	// Config.Fallback gets instead.
	miss bool
	// conditional is set when the route takes part in conditional and range requests
	// (successful content; not 404 pages or built-in errors).
	conditional bool
}

// variant is one encoding of a route's content with its header blocks serialised ahead.
// Blocks hold a status line and fields each ending in CRLF, but neither Date, Connection nor
// the blank line that ends the header: the connection adds those.
type variant struct {
	enc      string // "" for identity
	data     []byte // the body, a view of the store's content
	etag     string // quoted strong entity tag, or "" for error pages
	modTime  time.Time
	lastMod  string // HTTP-date, or ""
	ctype    string
	boundary string

	full     []byte      // status line, every field, Content-Length
	notMod   []byte      // "304 Not Modified" and the fields RFC 9110 §15.4.5 keeps
	partial  []byte      // "206 Partial Content" and every field but Content-Type/Length
	hdr      http.Header // every field of full except Content-Length, for ServeHTTP
	notModKV http.Header // the fields of notMod, for ServeHTTP
}

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
		for _, w := range warns {
			log.Warn("httpserve: rule skipped", "rule", w)
		}
	}
	if e, err := st.Lookup(headersFile); err == nil {
		var warns []string
		s.headers, warns = parseHeaders(string(e.Data))
		for _, w := range warns {
			log.Warn("httpserve: rule skipped", "rule", w)
		}
	}
	return s
}

// lookupRaw returns the cached route of a raw request path; it does not allocate.
func (s *site) lookupRaw(raw []byte) *route {
	s.mu.RLock()
	r := s.byRaw[string(raw)]
	s.mu.RUnlock()
	return r
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

// lookup returns the entry of key, or nil.
func (s *site) lookup(key string) *kv.Entry {
	if key == "" || key == headersFile || key == redirectsFile {
		return nil
	}
	e, err := s.store.Lookup(key)
	if err != nil {
		return nil
	}
	return e
}

// resolve finds the answer for a clean path: the rules of _redirects first (a rule without
// '!' yields to content that exists), then the static resolution.
func (s *site) resolve(p string) *route {
	if !s.srv.cfg.Resolve.ShowDotfiles && hiddenPath([]byte(p)) {
		return s.notFound(p)
	}
	var static *route
	for i := range s.redirects {
		rule := &s.redirects[i]
		if !rule.from.match(p, nil) {
			continue
		}
		if !rule.force {
			if static == nil {
				static = s.static(p)
			}
			if static.kind == routeContent && static.status == http.StatusOK || static.kind == routeRedirect {
				continue // shadowed by content that exists
			}
		}
		to := rule.expand(p)
		switch {
		case rule.status >= 300 && rule.status < 400:
			return s.redirectRoute(rule.status, safeLocation(to))
		default: // 200 rewrite, 404 and 410 pages: content from this site
			q, _, _ := strings.Cut(to, "?")
			clean, err := cleanPath(nil, q)
			if err != nil {
				return badRoute
			}
			target := s.static(string(clean))
			if target.kind == routeContent && target.status == http.StatusOK {
				if rule.status == http.StatusOK {
					return target
				}
				return s.contentRoute(rule.status, s.lookupTarget(string(clean)), p)
			}
			if rule.status == http.StatusOK {
				return s.notFound(p)
			}
			return s.builtin(rule.status)
		}
	}
	if static == nil {
		static = s.static(p)
	}
	return static
}

// lookupTarget returns the entry a clean path resolves to statically (file, file.html or
// directory index), for rules that serve it with another status.
func (s *site) lookupTarget(p string) *kv.Entry {
	key := strings.TrimPrefix(p, "/")
	idx := s.srv.cfg.Resolve.IndexName
	if key == "" || strings.HasSuffix(key, "/") {
		return s.lookup(key + idx)
	}
	if e := s.lookup(key); e != nil {
		return e
	}
	if e := s.lookup(key + ".html"); e != nil {
		return e
	}
	return s.lookup(key + "/" + idx)
}

// static resolves a clean path against the content alone (clean URLs, indexes, canonical
// redirects, the 404 page).
func (s *site) static(p string) *route {
	cfg := &s.srv.cfg.Resolve
	idx := cfg.IndexName
	key := p[1:]
	if key == "" || strings.HasSuffix(key, "/") { // a directory form: "/" or "/about/"
		if e := s.lookup(key + idx); e != nil {
			return s.contentRoute(http.StatusOK, e, p)
		}
		if key != "" && cfg.StripTrailingSlash {
			file := key[:len(key)-1]
			if s.lookup(file) != nil || !cfg.NoHTMLExtension && s.lookup(file+".html") != nil {
				return s.redirectRoute(0, escapeLocation(p[:len(p)-1]))
			}
		}
		return s.notFound(p)
	}
	if e := s.lookup(key); e != nil {
		base := key[strings.LastIndexByte(key, '/')+1:]
		if base == idx && cfg.RedirectIndex {
			return s.redirectRoute(0, escapeLocation(p[:len(p)-len(idx)]))
		}
		if cfg.RedirectHTML && base != idx && strings.HasSuffix(base, ".html") && len(base) > len(".html") {
			clean := key[:len(key)-len(".html")]
			if s.lookup(clean) == nil && !cfg.NoHTMLExtension {
				return s.redirectRoute(0, escapeLocation("/"+clean))
			}
		}
		return s.contentRoute(http.StatusOK, e, p)
	}
	if !cfg.NoHTMLExtension {
		if e := s.lookup(key + ".html"); e != nil {
			return s.contentRoute(http.StatusOK, e, p)
		}
	}
	if e := s.lookup(key + "/" + idx); e != nil {
		if cfg.NoDirRedirect {
			return s.contentRoute(http.StatusOK, e, p)
		}
		return s.redirectRoute(0, escapeLocation(p+"/"))
	}
	return s.notFound(p)
}

// notFound answers with the nearest 404 page at or above the path's directory, with status
// 404, or with a short built-in text.
func (s *site) notFound(p string) *route {
	page := s.srv.cfg.Resolve.NotFoundPage
	if page != "-" {
		dir := p[:strings.LastIndexByte(p, '/')+1] // "/a/b/" for "/a/b/c"
		for {
			if !hiddenPath([]byte(dir)) || s.srv.cfg.Resolve.ShowDotfiles {
				if e := s.lookup(dir[1:] + page); e != nil {
					return s.notFoundPage(e, p)
				}
			}
			if dir == "/" {
				break
			}
			dir = dir[:strings.LastIndexByte(dir[:len(dir)-1], '/')+1]
		}
	}
	return s.srv.missRoute
}

// notFoundPage prepares the 404 page e for path p. Paths that no _headers rule matches share
// one prepared route per page, so requests for endless missing paths cost a cache entry each,
// not a prepared page each.
func (s *site) notFoundPage(e *kv.Entry, p string) *route {
	shared := len(headersFor(s.headers, p)) == 0
	if shared {
		s.pagesMu.Lock()
		r := s.pages[e.Key]
		s.pagesMu.Unlock()
		if r != nil {
			return r
		}
	}
	r := s.contentRoute(http.StatusNotFound, e, p)
	r.miss = true
	if shared {
		s.pagesMu.Lock()
		if s.pages == nil {
			s.pages = make(map[string]*route)
		}
		s.pages[e.Key] = r
		s.pagesMu.Unlock()
	}
	return r
}

// builtin returns a short plain-text answer with the given status.
func (s *site) builtin(status int) *route {
	return s.srv.builtin(status)
}

// escapeLocation makes a same-site Location from a clean path.
func escapeLocation(p string) string {
	return string(appendEscapedPath(nil, p))
}

// safeLocation keeps a rule's redirect target on the site when it is a path: a target that
// starts with "//" or "/\" (which browsers read as another host) loses its extra slashes.
func safeLocation(to string) string {
	if !strings.HasPrefix(to, "/") {
		return to // an absolute http(s) URL written by the site's author
	}
	for len(to) > 1 && (to[1] == '/' || to[1] == '\\') {
		to = to[1:]
	}
	return to
}

func (s *site) redirectRoute(status int, loc string) *route {
	if status == 0 {
		status = s.srv.cfg.RedirectStatus
	}
	b := make([]byte, 0, 128+len(loc))
	b = appendStatusLine(b, status)
	b = append(b, "Content-Length: 0\r\nCache-Control: no-cache\r\nLocation: "...)
	b = append(b, loc...)
	return &route{kind: routeRedirect, status: status, location: loc, redirect: b,
		keepQuery: !strings.Contains(loc, "?")}
}

// contentRoute prepares the variants of an entry served for URL path p with a status.
func (s *site) contentRoute(status int, e *kv.Entry, p string) *route {
	if e == nil {
		return s.builtin(status)
	}
	custom := headersFor(s.headers, p)
	r := &route{kind: routeContent, status: status, conditional: status == http.StatusOK}
	vary := len(e.Variants) > 0
	cc := ""
	if status == http.StatusOK {
		cc = s.srv.cfg.CacheControl(e.Key, e.ContentType)
	} else {
		cc = "no-cache"
	}
	r.vars = append(r.vars, s.srv.prepare(status, "", e.Data, e.Digest, e.ModTime, e.ContentType, cc, vary, custom))
	for _, v := range e.Variants {
		r.vars = append(r.vars, s.srv.prepare(status, v.Encoding, v.Data, v.Digest, e.ModTime, e.ContentType, cc, vary, custom))
	}
	return r
}

// prepare serialises the header blocks of one variant.
func (srv *Server) prepare(status int, enc string, data []byte, digest kv.Digest, mod time.Time,
	ctype, cacheControl string, vary bool, custom []headerField) *variant {
	v := &variant{enc: enc, data: data, ctype: ctype}
	if ctype == "" {
		v.ctype = "application/octet-stream"
	}
	ok := status == http.StatusOK
	if ok {
		tag := hex.EncodeToString(digest[:16])
		if enc != "" {
			tag += "-" + enc
		}
		v.etag = `"` + tag + `"`
		v.boundary = hex.EncodeToString(digest[16:28])
		if !mod.IsZero() && mod.Unix() > 0 {
			v.modTime = mod.Truncate(time.Second)
			v.lastMod = v.modTime.UTC().Format(http.TimeFormat)
		}
	}
	has := func(name string) bool {
		for _, f := range custom {
			if f.name == name {
				return true
			}
		}
		return false
	}
	// Validator and caching fields: sent with 200, 206 and 304.
	var val []headerField
	if v.etag != "" {
		val = append(val, headerField{"Etag", v.etag})
	}
	if v.lastMod != "" {
		val = append(val, headerField{"Last-Modified", v.lastMod})
	}
	if cacheControl != "" && !has("Cache-Control") {
		val = append(val, headerField{"Cache-Control", cacheControl})
	}
	if vary && !has("Vary") {
		val = append(val, headerField{"Vary", "Accept-Encoding"})
	}
	if !has("X-Content-Type-Options") {
		val = append(val, headerField{"X-Content-Type-Options", "nosniff"})
	}
	for _, f := range custom {
		if f.name != "Content-Type" {
			val = append(val, f)
		}
	}
	// Representation fields: 200 and 206.
	var rep []headerField
	if enc != "" {
		rep = append(rep, headerField{"Content-Encoding", enc})
	}
	if ok {
		rep = append(rep, headerField{"Accept-Ranges", "bytes"})
	}
	for _, f := range custom {
		if f.name == "Content-Type" {
			v.ctype = f.value // a _headers rule overrides the store's type
		}
	}
	ctField := []headerField{{"Content-Type", v.ctype}}

	v.hdr = make(http.Header, len(val)+len(rep)+1)
	v.notModKV = make(http.Header, len(val))
	b := appendStatusLine(nil, status)
	for _, group := range [][]headerField{ctField, rep, val} {
		for _, f := range group {
			b = appendField(b, f.name, f.value)
			v.hdr[f.name] = append(v.hdr[f.name], f.value)
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(data)), 10)
	v.full = append(b, "\r\n"...)
	if ok {
		nm := appendStatusLine(nil, http.StatusNotModified)
		for _, f := range val {
			nm = appendField(nm, f.name, f.value)
			v.notModKV[f.name] = append(v.notModKV[f.name], f.value)
		}
		v.notMod = nm
		pb := appendStatusLine(nil, http.StatusPartialContent)
		for _, group := range [][]headerField{rep, val} {
			for _, f := range group {
				pb = appendField(pb, f.name, f.value)
			}
		}
		v.partial = pb
	}
	return v
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

func appendStatusLine(b []byte, status int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	return append(b, "\r\n"...)
}

// DefaultCacheControl is the Cache-Control policy used when Config.CacheControl is nil:
// fingerprinted assets (see Fingerprinted) are "public, max-age=31536000, immutable";
// everything else, HTML included, is "no-cache", so browsers revalidate (cheaply, with the
// ETag) and never show a stale page after a deploy.
func DefaultCacheControl(key, contentType string) string {
	if Fingerprinted(key) {
		return "public, max-age=31536000, immutable"
	}
	return "no-cache"
}

// Fingerprinted reports whether a file name carries a content hash, as asset pipelines write
// them: a dot-, dash- or underscore-separated run of at least 8 hexadecimal digits before the
// extension ("app.3f2a9c1b.css", "main-3f2a9c1bd0e4.js", "style.min.<sha256>.css").
// HTML files are never fingerprinted.
func Fingerprinted(key string) bool {
	base := key[strings.LastIndexByte(key, '/')+1:]
	dot := strings.LastIndexByte(base, '.')
	if dot <= 0 {
		return false
	}
	if ext := base[dot:]; ext == ".html" || ext == ".htm" {
		return false
	}
	stem := base[:dot]
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if c != '.' && c != '-' && c != '_' {
			continue
		}
		j := i + 1
		for j < len(stem) && isHex(stem[j]) {
			j++
		}
		if j-(i+1) >= 8 && (j == len(stem) || stem[j] == '.' || stem[j] == '-' || stem[j] == '_') {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
