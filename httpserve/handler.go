package httpserve

import (
	"net/http"
	"strconv"
	"strings"
)

// answerKind is how a request is answered.
type answerKind uint8

const (
	ansFallback      answerKind = iota // Config.Fallback answers
	ansRedirect                        // route.redirect (+ query)
	ansBody                            // v with its status (200, 404, 410, built-in errors)
	ansNotModified                     // 304
	ansPartial                         // 206, ranges
	ansUnsatisfiable                   // 416
)

// answer is the decision for one request, shared by the fast path and ServeHTTP.
type answer struct {
	kind   answerKind
	status int
	route  *route
	v      *variant
	ranges []byteRange
}

// scratch is per-connection (or per-call) working memory of decide, so that deciding does not
// allocate.
type scratch struct {
	lower  [256]byte
	path   []byte
	ranges []byteRange
}

// decide resolves a request to its answer.
func (s *Server) decide(req *request, sc *scratch) answer {
	get, head := req.method == "GET", req.method == "HEAD"
	if !get && !head || req.hasBody || req.expect {
		if s.cfg.Fallback != nil {
			return answer{kind: ansFallback}
		}
		if !get && !head {
			return s.errAnswer(http.StatusMethodNotAllowed)
		}
	}
	st := s.siteFor(req.host, &sc.lower)
	if st == nil {
		if s.cfg.Fallback != nil {
			return answer{kind: ansFallback}
		}
		return s.errAnswer(http.StatusNotFound)
	}
	var r *route
	r, sc.path = st.routeFor(req.path, sc.path)
	switch r.kind {
	case routeBad:
		return s.errAnswer(http.StatusBadRequest)
	case routeRedirect:
		return answer{kind: ansRedirect, status: r.status, route: r}
	}
	if r.miss && s.cfg.Fallback != nil {
		return answer{kind: ansFallback}
	}
	v := r.vars[0]
	if len(r.vars) > 1 {
		v = negotiate(req.acceptEncoding, r.vars)
	}
	a := answer{kind: ansBody, status: r.status, route: r, v: v}
	if !r.conditional {
		return a
	}
	cond, honourRange := checkPreconditions(req, v)
	switch cond {
	case condNotModified:
		a.kind, a.status = ansNotModified, http.StatusNotModified
		return a
	case condPreconditionFailed:
		return s.errAnswer(http.StatusPreconditionFailed)
	}
	if !honourRange {
		return a
	}
	size := int64(len(v.data))
	ranges, res := parseRange(req.rangeH, size, s.cfg.MaxRanges, sc.ranges[:0])
	sc.ranges = ranges
	switch res {
	case rangeUnsatisfiable:
		a.kind, a.status = ansUnsatisfiable, http.StatusRequestedRangeNotSatisfiable
	case rangeOK:
		if len(ranges) > 1 && multipartLen(v, ranges) > size {
			return a // the framing would make the answer larger than the whole: send the whole
		}
		a.kind, a.status, a.ranges = ansPartial, http.StatusPartialContent, ranges
	}
	return a
}

func (s *Server) errAnswer(status int) answer {
	r := s.builtin(status)
	return answer{kind: ansBody, status: status, route: r, v: r.vars[0]}
}

// negotiate picks the variant for an Accept-Encoding value (RFC 9110 §12.5.3): the
// precompressed variant with the highest q-value above 0, ties going to the store's order
// (br, zstd, gzip), else identity (vars[0]), which is also sent when the client refuses it but
// accepts nothing else.
func negotiate(ae string, vars []*variant) *variant {
	best, bestQ := vars[0], 0
	if ae == "" {
		return best
	}
	for _, v := range vars[1:] {
		if q := codingQ(ae, v.enc); q > bestQ {
			best, bestQ = v, q
		}
	}
	return best
}

// codingQ returns the q-value, in thousandths, that an Accept-Encoding value gives a coding
// (through its name or "*"); 0 when absent or refused.
func codingQ(ae, coding string) int {
	star := -1
	for ae != "" {
		var item string
		item, ae, _ = strings.Cut(ae, ",")
		name, params, _ := strings.Cut(item, ";")
		name = trimOWS(name)
		q := 1000
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			p = trimOWS(p)
			if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
				q = parseQ(p[2:])
			}
		}
		if strings.EqualFold(name, coding) {
			return q
		}
		if name == "*" {
			star = q
		}
	}
	return max(star, 0)
}

// parseQ parses a qvalue ("0", "0.5", "1.000") into thousandths; malformed gives 0.
func parseQ(s string) int {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0
	}
	q := int(s[0]-'0') * 1000
	if len(s) > 1 {
		if s[1] != '.' || len(s) > 5 {
			return 0
		}
		mul := 100
		for i := 2; i < len(s); i++ {
			if !isDigit(s[i]) {
				return 0
			}
			q += int(s[i]-'0') * mul
			mul /= 10
		}
	}
	return min(q, 1000)
}

// multipartLen is the length of a multipart/byteranges body for ranges of v.
func multipartLen(v *variant, ranges []byteRange) int64 {
	size := int64(len(v.data))
	sizeDigits := int64(digits(size))
	var n int64
	for _, r := range ranges {
		// CRLF "--" boundary CRLF "Content-Type: " ctype CRLF "Content-Range: bytes " a "-" b "/" size CRLF CRLF
		n += int64(2+2+len(v.boundary)+2+len("Content-Type: ")+len(v.ctype)+2+len("Content-Range: bytes ")) +
			int64(digits(r.start)) + 1 + int64(digits(r.start+r.length-1)) + 1 + sizeDigits + 4 + r.length
	}
	return n + int64(2+2+len(v.boundary)+2+2) // CRLF "--" boundary "--" CRLF
}

func digits(n int64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// appendPartHeader appends the delimiter and fields that precede one part.
func appendPartHeader(b []byte, v *variant, r byteRange) []byte {
	b = append(b, "\r\n--"...)
	b = append(b, v.boundary...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, v.ctype...)
	b = append(b, "\r\nContent-Range: bytes "...)
	b = strconv.AppendInt(b, r.start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.start+r.length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(len(v.data)), 10)
	return append(b, "\r\n\r\n"...)
}

func appendCloseDelimiter(b []byte, v *variant) []byte {
	b = append(b, "\r\n--"...)
	b = append(b, v.boundary...)
	return append(b, "--\r\n"...)
}

// ServeHTTP serves a request through net/http's types, with the same resolution and
// semantics as the fast path (it is the path of HTTP/2 and of connections handed to net/http,
// and lets a Server sit under any http.Server or mux). Requests not served statically go to
// Config.Fallback.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.RequestURI
	if target == "" || target[0] != '/' {
		target = r.URL.RequestURI()
	}
	req := request{
		method:            r.Method,
		target:            target,
		host:              r.Host,
		hasBody:           r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody,
		expect:            r.Header.Get("Expect") != "",
		acceptEncoding:    strings.Join(r.Header.Values("Accept-Encoding"), ","),
		ifMatch:           r.Header.Get("If-Match"),
		ifNoneMatch:       strings.Join(r.Header.Values("If-None-Match"), ","),
		ifModifiedSince:   r.Header.Get("If-Modified-Since"),
		ifUnmodifiedSince: r.Header.Get("If-Unmodified-Since"),
		rangeH:            r.Header.Get("Range"),
		ifRange:           r.Header.Get("If-Range"),
	}
	req.path, req.query, _ = strings.Cut(target, "?")
	var sc scratch
	a := s.decide(&req, &sc)
	if a.kind == ansFallback {
		s.fallback(w, r)
		return
	}
	n := s.writeAnswer(w, &req, &a)
	s.count(a.status, n)
	s.logAccess(&req, a.status, n, r.Proto, r.RemoteAddr, 0)
}

// NotFound serves the site's 404 page for r (status 404), for a Fallback handler to use for
// paths it does not know.
func (s *Server) NotFound(w http.ResponseWriter, r *http.Request) {
	var sc scratch
	st := s.siteFor(r.Host, &sc.lower)
	rt := s.builtin(http.StatusNotFound)
	if st != nil {
		clean, err := cleanPath(nil, r.URL.EscapedPath())
		if err == nil {
			rt = st.notFound(string(clean))
		}
	}
	req := request{method: r.Method, acceptEncoding: r.Header.Get("Accept-Encoding")}
	v := negotiate(req.acceptEncoding, rt.vars)
	a := answer{kind: ansBody, status: http.StatusNotFound, route: rt, v: v}
	s.writeAnswer(w, &req, &a)
}

func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Fallback == nil {
		s.writeAnswer(w, &request{method: r.Method}, ptr(s.errAnswer(http.StatusNotFound)))
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.cfg.Fallback.ServeHTTP(sw, r)
	s.count(sw.status, sw.n)
	if s.cfg.AccessLog != nil {
		req := request{method: r.Method, host: r.Host, path: r.URL.Path}
		s.logAccess(&req, sw.status, sw.n, r.Proto, r.RemoteAddr, 0)
	}
}

func ptr[T any](v T) *T { return &v }

// statusWriter records the status and body bytes of a Fallback response for the counters.
type statusWriter struct {
	http.ResponseWriter
	status      int
	n           int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, Hijack, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeAnswer writes a through an http.ResponseWriter and returns the body bytes written.
func (s *Server) writeAnswer(w http.ResponseWriter, req *request, a *answer) int {
	h := w.Header()
	head := req.method == "HEAD"
	switch a.kind {
	case ansRedirect:
		loc := a.route.location
		if req.query != "" && a.route.keepQuery {
			loc += "?" + req.query
		}
		h.Set("Location", loc)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Length", "0")
		w.WriteHeader(a.status)
		return 0
	case ansNotModified:
		for k, vv := range a.v.notModKV {
			h[k] = vv
		}
		w.WriteHeader(http.StatusNotModified)
		return 0
	case ansUnsatisfiable:
		ev := s.builtin(http.StatusRequestedRangeNotSatisfiable).vars[0]
		for k, vv := range ev.hdr {
			h[k] = vv
		}
		h.Set("Content-Range", "bytes */"+strconv.Itoa(len(a.v.data)))
		h.Set("Content-Length", strconv.Itoa(len(ev.data)))
		w.WriteHeader(a.status)
		if !head {
			w.Write(ev.data)
			return len(ev.data)
		}
		return 0
	case ansPartial:
		for k, vv := range a.v.hdr {
			h[k] = vv
		}
		if len(a.ranges) == 1 {
			r := a.ranges[0]
			h.Set("Content-Range", "bytes "+strconv.FormatInt(r.start, 10)+"-"+
				strconv.FormatInt(r.start+r.length-1, 10)+"/"+strconv.Itoa(len(a.v.data)))
			h.Set("Content-Length", strconv.FormatInt(r.length, 10))
			w.WriteHeader(http.StatusPartialContent)
			if head {
				return 0
			}
			n, _ := w.Write(a.v.data[r.start : r.start+r.length])
			return n
		}
		h.Set("Content-Type", "multipart/byteranges; boundary="+a.v.boundary)
		h.Set("Content-Length", strconv.FormatInt(multipartLen(a.v, a.ranges), 10))
		w.WriteHeader(http.StatusPartialContent)
		if head {
			return 0
		}
		total := 0
		var b []byte
		for _, r := range a.ranges {
			b = appendPartHeader(b[:0], a.v, r)
			n1, _ := w.Write(b)
			n2, _ := w.Write(a.v.data[r.start : r.start+r.length])
			total += n1 + n2
		}
		n, _ := w.Write(appendCloseDelimiter(b[:0], a.v))
		return total + n
	}
	for k, vv := range a.v.hdr {
		h[k] = vv
	}
	h.Set("Content-Length", strconv.Itoa(len(a.v.data)))
	w.WriteHeader(a.status)
	if head {
		return 0
	}
	n, _ := w.Write(a.v.data)
	return n
}
