package httpserve

import (
	"maps"
	"net/http"
	"runtime/trace"
	"strconv"
	"strings"
)

// ServeHTTP serves a request through net/http's types, with the same resolution and
// semantics as the fast path (it is the path of HTTP/2 and of connections handed to net/http,
// and lets a Server sit under any http.Server or mux): Config.Routes, then static content,
// then Config.Fallback. A request the Server has already handed to one of those handlers
// (a mux whose "/" is the Server, say) is served as ServeStatic serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	static := false
	if i := infoOf(r); i != nil && i.srv == s {
		static = true
	}
	s.serve(w, r, static)
}

// serve is ServeHTTP, or ServeStatic when static is set.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, static bool) {
	ctx, task := startRequest(r.Context())
	defer endRequest(task)
	region := trace.StartRegion(ctx, tracePrepare)
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
	a := s.decide(&req, &sc, static)
	region.End()
	switch a.kind {
	case ansFallback:
		s.fallback(w, r)
		return
	case ansRoute:
		s.serveRoute(w, r, a.routed.label)
		return
	case ansRender:
		k := s.renderPage(a.routed, r)
		if k == nil {
			a = s.errAnswer(http.StatusInternalServerError)
		} else {
			a = s.contentAnswer(&req, &sc, k.route)
		}
	}
	n := s.writeAnswer(w, &req, &a)
	s.countPrepared(a.status, n)
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

// fallback hands r to Config.Fallback, counting and logging its response; without a
// Fallback it answers the built-in 404. The Server is marked in r's context, so that a
// Fallback that is (or calls) the Server serves statically instead of going round again.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Fallback == nil {
		a := s.errAnswer(http.StatusNotFound)
		s.writeAnswer(w, &request{method: r.Method}, &a)
		return
	}
	var sc scratch
	_, _, label := s.hostFor(r.Host, &sc.lower)
	s.serveHandler(s.cfg.Fallback, w, s.withInfo(r, strings.Clone(label)))
}

// serveHandler runs one of the application's handlers, counting and logging its response.
func (s *Server) serveHandler(h http.Handler, w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.ServeHTTP(sw, r)
	s.countResponse(sw.status, sw.n)
	if s.cfg.AccessLog != nil {
		req := request{method: r.Method, host: r.Host, path: r.URL.Path}
		s.logAccess(&req, sw.status, sw.n, r.Proto, r.RemoteAddr, 0)
	}
}

// statusWriter records the status and body bytes of a Fallback response for the counters.
type statusWriter struct {
	http.ResponseWriter
	status      int
	n           int
	wroteHeader bool
}

// WriteHeader records the first final status and passes code on.
func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the body bytes written.
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
		maps.Copy(h, a.v.notModHeader)
		w.WriteHeader(http.StatusNotModified)
		return 0
	case ansUnsatisfiable:
		ev := s.builtin(http.StatusRequestedRangeNotSatisfiable).vars[0]
		maps.Copy(h, ev.header)
		h.Set("Content-Range", "bytes */"+strconv.Itoa(len(a.v.data)))
		h.Set("Content-Length", strconv.Itoa(len(ev.data)))
		w.WriteHeader(a.status)
		if !head {
			w.Write(ev.data)
			return len(ev.data)
		}
		return 0
	case ansPartial:
		maps.Copy(h, a.v.header)
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
	maps.Copy(h, a.v.header)
	h.Set("Content-Length", strconv.Itoa(len(a.v.data)))
	w.WriteHeader(a.status)
	if head {
		return 0
	}
	n, _ := w.Write(a.v.data)
	return n
}
