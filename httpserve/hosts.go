package httpserve

import (
	"context"
	"net/http"
	"strings"
)

// wildcardFor finds the site of a lower-case host name under a wildcard of Config.Hosts
// ("*.example.org" matches "blog.example.org", not "example.org" nor "a.b.example.org"), and
// returns it with the length of the label the wildcard matched. The label must be a DNS label
// of letters, digits and hyphens (1 to 63 of them, not starting or ending with a hyphen); any
// other host is not matched. It does not allocate.
func (s *Server) wildcardFor(host []byte) (*hostSite, int) {
	if len(s.wildcards) == 0 {
		return nil, 0
	}
	dot := -1
	for i, c := range host {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot <= 0 || !validLabel(host[:dot]) {
		return nil, 0
	}
	if x := s.wildcards[string(host[dot+1:])]; x != nil {
		return x, dot
	}
	return nil, 0
}

// validLabel reports whether b is a DNS label in the preferred name syntax (RFC 1035 §2.3.1,
// with a leading digit allowed as RFC 1123 does).
func validLabel(b []byte) bool {
	if len(b) == 0 || len(b) > 63 || b[0] == '-' || b[len(b)-1] == '-' {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// splitHosts separates the wildcard entries of Config.Hosts ("*.example.org", keyed here by
// "example.org") from the exact ones, lower-casing both.
func splitHosts(hosts map[string]Store) (exact, wild map[string]*hostSite) {
	exact = make(map[string]*hostSite, len(hosts))
	wild = make(map[string]*hostSite)
	for h, st := range hosts {
		h = strings.ToLower(h)
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			wild[suffix] = &hostSite{store: st}
			continue
		}
		exact[h] = &hostSite{store: st}
	}
	return exact, wild
}

// ctxKey is the context key of the requestInfo the Server gives the requests it hands to
// Routes, a PageFunc or Fallback.
type ctxKey struct{}

// requestInfo is what the Server tells its handlers about a request.
type requestInfo struct {
	srv   *Server
	label string
}

// withInfo returns r with the Server's requestInfo in its context.
func (s *Server) withInfo(r *http.Request, label string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, &requestInfo{srv: s, label: label}))
}

// infoOf returns the requestInfo a Server put in r's context, or nil.
func infoOf(r *http.Request) *requestInfo {
	i, _ := r.Context().Value(ctxKey{}).(*requestInfo)
	return i
}

// HostLabel returns the label of r's Host that a wildcard of Config.Hosts matched ("blog" for
// "blog.example.org" under "*.example.org"), in lower case, for the handlers the
// Server calls (Routes, a PageFunc, Fallback); "" when no wildcard matched. A handler that
// selects content by it must validate the label against what it knows (a tag, a user): any
// label of letters, digits and hyphens matches a wildcard.
func HostLabel(r *http.Request) string {
	if i := infoOf(r); i != nil {
		return i.label
	}
	return ""
}
