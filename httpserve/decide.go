package httpserve

import "net/http"

// answerKind is how a request is answered.
type answerKind uint8

const (
	ansFallback      answerKind = iota // Config.Fallback answers
	ansRoute                           // Config.Routes answers
	ansRender                          // a PageFunc of Routes renders the page, then it is served
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
	routed *routed // ansRoute, ansRender: what Routes does with the request
}

// scratch is per-connection (or per-call) working memory of decide, so that deciding does not
// allocate.
type scratch struct {
	lower  [256]byte
	path   []byte
	key    []byte
	ranges []byteRange
}

// decide resolves a request to its answer. Config.Routes comes first, then the site's
// content, then Config.Fallback for what has no content. With static set (ServeStatic),
// neither Routes nor Fallback is consulted.
func (s *Server) decide(req *request, sc *scratch, static bool) answer {
	get, head := req.method == "GET", req.method == "HEAD"
	if s.cfg.Routes != nil && !static {
		if e := s.routeFor(req, sc); e.handled {
			if !e.page || !get && !head || req.hasBody || req.expect {
				return answer{kind: ansRoute, routed: e}
			}
			k := s.fresh(e)
			if k == nil {
				return answer{kind: ansRender, routed: e}
			}
			return s.contentAnswer(req, sc, k.route)
		}
	}
	fallback := s.cfg.Fallback != nil && !static
	st := s.siteFor(req.host, &sc.lower)
	if st == nil {
		if fallback {
			return answer{kind: ansFallback}
		}
		return s.errAnswer(http.StatusNotFound)
	}
	var r *route
	r, sc.path = st.routeFor(req.path, sc.path)
	if r.kind == routeBad {
		return s.errAnswer(http.StatusBadRequest)
	}
	if r.miss && fallback {
		return answer{kind: ansFallback}
	}
	if !get && !head {
		return s.errAnswer(http.StatusMethodNotAllowed)
	}
	if r.kind == routeRedirect {
		return answer{kind: ansRedirect, status: r.status, route: r}
	}
	return s.contentAnswer(req, sc, r)
}

// contentAnswer answers a GET or HEAD with a content route: the variant Accept-Encoding
// chooses, then preconditions and ranges.
func (s *Server) contentAnswer(req *request, sc *scratch, r *route) answer {
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

// errAnswer answers with the built-in plain-text response of status.
func (s *Server) errAnswer(status int) answer {
	r := s.builtin(status)
	return answer{kind: ansBody, status: status, route: r, v: r.vars[0]}
}
