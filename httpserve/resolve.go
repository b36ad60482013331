package httpserve

import (
	"net/http"
	"strings"

	"github.com/unikit/unikit/kv"
)

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
				static = s.staticRoute(p)
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
			target := s.staticRoute(string(clean))
			if target.kind == routeContent && target.status == http.StatusOK {
				if rule.status == http.StatusOK {
					return target
				}
				return s.contentRoute(rule.status, s.targetEntry(string(clean)), p)
			}
			if rule.status == http.StatusOK {
				return s.notFound(p)
			}
			return s.srv.builtin(rule.status)
		}
	}
	if static == nil {
		static = s.staticRoute(p)
	}
	return static
}

// targetEntry returns the entry a clean path resolves to statically (file, file.html or
// directory index), for rules that serve it with another status.
func (s *site) targetEntry(p string) *kv.Entry {
	key := strings.TrimPrefix(p, "/")
	idx := s.srv.cfg.Resolve.IndexName
	if key == "" || strings.HasSuffix(key, "/") {
		return s.entry(key + idx)
	}
	if e := s.entry(key); e != nil {
		return e
	}
	if e := s.entry(key + ".html"); e != nil {
		return e
	}
	return s.entry(key + "/" + idx)
}

// staticRoute resolves a clean path against the content alone (clean URLs, indexes, canonical
// redirects, the 404 page).
func (s *site) staticRoute(p string) *route {
	cfg := &s.srv.cfg.Resolve
	idx := cfg.IndexName
	key := p[1:]
	if key == "" || strings.HasSuffix(key, "/") { // a directory form: "/" or "/about/"
		if e := s.entry(key + idx); e != nil {
			return s.contentRoute(http.StatusOK, e, p)
		}
		if key != "" && cfg.StripTrailingSlash {
			file := key[:len(key)-1]
			if s.entry(file) != nil || !cfg.NoHTMLExtension && s.entry(file+".html") != nil {
				return s.redirectRoute(0, escapeLocation(p[:len(p)-1]))
			}
		}
		return s.notFound(p)
	}
	if e := s.entry(key); e != nil {
		base := key[strings.LastIndexByte(key, '/')+1:]
		if base == idx && cfg.RedirectIndex {
			return s.redirectRoute(0, escapeLocation(p[:len(p)-len(idx)]))
		}
		if cfg.RedirectHTML && base != idx && strings.HasSuffix(base, ".html") && len(base) > len(".html") {
			clean := key[:len(key)-len(".html")]
			if s.entry(clean) == nil && !cfg.NoHTMLExtension {
				return s.redirectRoute(0, escapeLocation("/"+clean))
			}
		}
		return s.contentRoute(http.StatusOK, e, p)
	}
	if !cfg.NoHTMLExtension {
		if e := s.entry(key + ".html"); e != nil {
			return s.contentRoute(http.StatusOK, e, p)
		}
	}
	if e := s.entry(key + "/" + idx); e != nil {
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
				if e := s.entry(dir[1:] + page); e != nil {
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
		s.notFoundMu.Lock()
		r := s.notFoundPages[e.Key]
		s.notFoundMu.Unlock()
		if r != nil {
			return r
		}
	}
	r := s.contentRoute(http.StatusNotFound, e, p)
	r.miss = true
	if shared {
		s.notFoundMu.Lock()
		if s.notFoundPages == nil {
			s.notFoundPages = make(map[string]*route)
		}
		s.notFoundPages[e.Key] = r
		s.notFoundMu.Unlock()
	}
	return r
}

// entry returns the store's entry of key, or nil when it has none or key names a rule file,
// which is never served.
func (s *site) entry(key string) *kv.Entry {
	if key == "" || key == headersFile || key == redirectsFile {
		return nil
	}
	e, err := s.store.Lookup(key)
	if err != nil {
		return nil
	}
	return e
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
