package httpserve

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/unikit/unikit/kv"
)

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

	full         []byte      // status line, every field, Content-Length
	notMod       []byte      // "304 Not Modified" and the fields RFC 9110 §15.4.5 keeps
	partial      []byte      // "206 Partial Content" and every field but Content-Type/Length
	header       http.Header // every field of full except Content-Length, for ServeHTTP
	notModHeader http.Header // the fields of notMod, for ServeHTTP

	sealed bodyFile // data in a sealed file, for sendfile to kernel sockets (made when first needed)
}

// redirectRoute prepares a redirect to loc, a Location made safe by escapeLocation or
// safeLocation; status 0 means Config.RedirectStatus. The request's query is appended when
// loc has none.
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
		return s.srv.builtin(status)
	}
	custom := headersFor(s.headers, p)
	r := &route{kind: routeContent, status: status, conditional: status == http.StatusOK}
	cc := ""
	if status == http.StatusOK {
		cc = s.srv.cfg.CacheControl(e.Key, e.ContentType)
	} else {
		cc = "no-cache"
	}
	r.vars = prepareVariants(status, e, cc, custom)
	return r
}

// prepareVariants prepares an entry's identity form, then its precompressed variants.
func prepareVariants(status int, e *kv.Entry, cacheControl string, custom []headerField) []*variant {
	vary := len(e.Variants) > 0
	vars := make([]*variant, 0, 1+len(e.Variants))
	vars = append(vars, prepareVariant(status, "", e.Data, e.Digest, e.ModTime, e.ContentType, cacheControl, vary, custom))
	for _, v := range e.Variants {
		vars = append(vars, prepareVariant(status, v.Encoding, v.Data, v.Digest, e.ModTime, e.ContentType, cacheControl, vary, custom))
	}
	return vars
}

// prepareVariant serialises the header blocks of one variant.
func prepareVariant(status int, enc string, data []byte, digest kv.Digest, mod time.Time,
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

	v.header = make(http.Header, len(val)+len(rep)+1)
	v.notModHeader = make(http.Header, len(val))
	b := appendStatusLine(nil, status)
	for _, group := range [][]headerField{ctField, rep, val} {
		for _, f := range group {
			b = appendField(b, f.name, f.value)
			v.header[f.name] = append(v.header[f.name], f.value)
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(data)), 10)
	v.full = append(b, "\r\n"...)
	if ok {
		nm := appendStatusLine(nil, http.StatusNotModified)
		for _, f := range val {
			nm = appendField(nm, f.name, f.value)
			v.notModHeader[f.name] = append(v.notModHeader[f.name], f.value)
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

// appendField appends one header field and its CRLF.
func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// appendStatusLine appends the HTTP/1.1 status line of status.
func appendStatusLine(b []byte, status int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	return append(b, "\r\n"...)
}

// prepareBuiltins prepares the short plain-text answers httpserve gives itself (400, 404 without
// a 404 page, 405, 412, 416, 503, ...) and the 404 of a path with no content.
func (s *Server) prepareBuiltins() {
	s.builtins = make(map[int]*route)
	for _, code := range []int{400, 404, 405, 410, 412, 416, 431, 500, 503, 505} {
		body := strconv.Itoa(code) + " " + strings.ToLower(http.StatusText(code)) + "\n"
		v := prepareVariant(code, "", []byte(body), [32]byte{}, time.Time{}, "text/plain; charset=utf-8", "no-cache", false, nil)
		if code == http.StatusMethodNotAllowed {
			v.full = appendField(v.full, "Allow", "GET, HEAD")
			v.header["Allow"] = []string{"GET, HEAD"}
		}
		s.builtins[code] = &route{kind: routeContent, status: code, vars: []*variant{v}}
	}
	s.missRoute = &route{kind: routeContent, status: http.StatusNotFound, vars: s.builtins[404].vars, miss: true}
}

// builtin returns the prepared plain-text answer of a status.
func (s *Server) builtin(status int) *route {
	if r := s.builtins[status]; r != nil {
		return r
	}
	return s.builtins[http.StatusNotFound]
}
