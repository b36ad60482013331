package httpserve

import (
	"net/http"
	"strings"
	"time"
)

// condResult is the outcome of the conditional fields of a request (RFC 9110 §13.2.2).
type condResult uint8

const (
	condNone               condResult = iota // evaluate Range, then serve
	condNotModified                          // 304
	condPreconditionFailed                   // 412
)

// checkPreconditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order of RFC 9110 §13.2.2, as net/http's checkPreconditions does,
// for a GET or HEAD of variant v. It reports whether a Range field is to be honoured, which
// If-Range decides (§13.1.5).
func checkPreconditions(req *request, v *variant) (condResult, bool) {
	if req.ifMatch != "" {
		if !etagListMatch(req.ifMatch, v.etag, false) {
			return condPreconditionFailed, false
		}
	} else if req.ifUnmodifiedSince != "" && v.lastMod != "" {
		if t, ok := parseHTTPDate(req.ifUnmodifiedSince, v.lastMod, v.modTime); ok && v.modTime.After(t) {
			return condPreconditionFailed, false
		}
	}
	if req.ifNoneMatch != "" {
		if etagListMatch(req.ifNoneMatch, v.etag, true) {
			return condNotModified, false
		}
	} else if req.ifModifiedSince != "" && v.lastMod != "" {
		if t, ok := parseHTTPDate(req.ifModifiedSince, v.lastMod, v.modTime); ok && !v.modTime.After(t) {
			return condNotModified, false
		}
	}
	if req.rangeH == "" {
		return condNone, false
	}
	if ir := trimOWS(req.ifRange); ir != "" {
		if ir[0] == '"' || strings.HasPrefix(ir, "W/") {
			// An entity tag: only a strong match honours the range.
			return condNone, !strings.HasPrefix(ir, "W/") && ir == v.etag
		}
		// A date: only an exact match with Last-Modified honours it.
		t, ok := parseHTTPDate(ir, v.lastMod, v.modTime)
		return condNone, ok && v.lastMod != "" && t.Equal(v.modTime)
	}
	return condNone, true
}

// parseHTTPDate parses an HTTP-date. The common case, a client echoing Last-Modified back,
// is recognised without parsing (and without allocating).
func parseHTTPDate(s, lastMod string, mod time.Time) (time.Time, bool) {
	s = trimOWS(s)
	if s == lastMod && lastMod != "" {
		return mod, true
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}

// etagListMatch reports whether the field value list (an If-Match or If-None-Match value)
// contains "*" or an entity tag matching etag: weakly (ignoring W/ prefixes) when weak is set,
// strongly (neither weak) otherwise. A malformed list matches nothing after the malformation.
func etagListMatch(list, etag string, weak bool) bool {
	if etag == "" {
		return false
	}
	for {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		if list[0] == '*' {
			return true
		}
		isWeak := false
		if strings.HasPrefix(list, "W/") {
			isWeak = true
			list = list[2:]
		}
		if list == "" || list[0] != '"' {
			return false
		}
		end := strings.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		tag := list[:end+2]
		list = list[end+2:]
		if tag == etag && (weak || !isWeak) {
			return true
		}
	}
}
