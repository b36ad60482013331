package httpserve

import (
	"bytes"
	"strings"
	"unsafe"
)

// request is one parsed request head. Its strings view the connection's read buffer (the
// fast path) or an *http.Request's fields (ServeHTTP); they are valid until the request has
// been answered and must not be retained.
type request struct {
	method string
	target string // the request-target as sent
	path   string // the target's path, before any '?'
	query  string // after '?', without it; "" when absent
	host   string
	http10 bool

	close     bool // the connection closes after this request
	keepAlive bool // HTTP/1.0 with "Connection: keep-alive"
	hasBody   bool // Content-Length > 0 or Transfer-Encoding: chunked
	expect    bool // Expect: 100-continue (or any Expect)

	acceptEncoding    string
	ifMatch           string
	ifNoneMatch       string
	ifModifiedSince   string
	ifUnmodifiedSince string
	rangeH            string
	ifRange           string
}

// parseError is a request the fast path refuses: the status to answer with, after which the
// connection closes.
type parseError int

// Limits of the request parser beyond Config.MaxHeaderBytes.
const (
	maxHeaderFields = 100 // more fields: 431
	maxEmptyLines   = 4   // CRLFs tolerated before a request line (RFC 9112 §2.2)
)

// h2Preface is the HTTP/2 connection preface (RFC 9113 §3.4), which prior-knowledge h2c
// clients send first.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// parseRequest parses one request head from b, which holds at most max bytes of it. It returns
// the head's length (0 while b holds only part of one) or a parseError: 400 for malformed
// or ambiguous framing (bare LF, obs-fold, whitespace before a colon, invalid names or
// values, conflicting or repeated Content-Length, Transfer-Encoding other than a single
// "chunked", Transfer-Encoding with Content-Length or in HTTP/1.0, a missing or repeated
// Host in HTTP/1.1, a request-target that is neither a path, an absolute URL nor "*"), 431
// for a head longer than max or with too many fields, 505 for another HTTP version. It does
// not allocate.
func parseRequest(b []byte, max int, req *request) (int, parseError) {
	*req = request{}
	pos := 0
	// Skip empty lines before the request line.
	for i := 0; i < maxEmptyLines && len(b)-pos >= 2 && b[pos] == '\r' && b[pos+1] == '\n'; i++ {
		pos += 2
	}
	line, next, perr := headLine(b, pos, max)
	if next == 0 {
		return 0, perr
	}
	pos = next
	// method SP request-target SP HTTP-version
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return 0, 400
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return 0, 400
	}
	sp2 += sp1 + 1
	method, target, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	for _, c := range method {
		if !isTokenChar(c) {
			return 0, 400
		}
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return 0, 400
		}
	}
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.http10 = true
	case "HTTP/2.0":
		return 0, 400 // a preface is recognised by the caller before parsing
	default:
		if len(version) == 8 && string(version[:5]) == "HTTP/" && isDigit(version[5]) && version[6] == '.' && isDigit(version[7]) {
			return 0, 505
		}
		return 0, 400
	}
	req.method = str(method)
	req.target = str(target)

	var clSeen, teSeen, hostSeen bool
	var cl int64
	fields := 0
	for {
		line, next, perr := headLine(b, pos, max)
		if next == 0 {
			return 0, perr
		}
		pos = next
		if len(line) == 0 {
			break // end of the head
		}
		if fields++; fields > maxHeaderFields {
			return 0, 431
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, 400 // obs-fold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, 400
		}
		name := line[:colon]
		for _, c := range name {
			if !isTokenChar(c) {
				return 0, 400 // includes whitespace before the colon
			}
		}
		value := line[colon+1:]
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, 400
			}
		}
		v := trimOWS(str(value))
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				if hostSeen || !validHost(v) {
					return 0, 400
				}
				hostSeen = true
				req.host = v
			}
		case 5:
			if equalFold(name, "range") {
				req.rangeH = v
			}
		case 6:
			if equalFold(name, "expect") {
				req.expect = true
			}
		case 8:
			if equalFold(name, "if-match") {
				req.ifMatch = v
			} else if equalFold(name, "if-range") {
				req.ifRange = v
			}
		case 10:
			if equalFold(name, "connection") {
				connectionTokens(v, req)
			}
		case 13:
			if equalFold(name, "if-none-match") {
				req.ifNoneMatch = v
			}
		case 14:
			if equalFold(name, "content-length") {
				n, ok := parseDigits(v)
				if !ok || n == maxInt64 || clSeen && n != cl {
					return 0, 400
				}
				clSeen, cl = true, n
			}
		case 15:
			if equalFold(name, "accept-encoding") {
				req.acceptEncoding = v
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				if teSeen || req.http10 || !strings.EqualFold(v, "chunked") {
					return 0, 400
				}
				teSeen = true
			} else if equalFold(name, "if-modified-since") {
				req.ifModifiedSince = v
			}
		case 19:
			if equalFold(name, "if-unmodified-since") {
				req.ifUnmodifiedSince = v
			}
		}
	}
	if clSeen && teSeen {
		return 0, 400
	}
	if !hostSeen && !req.http10 {
		return 0, 400
	}
	req.hasBody = teSeen || cl > 0
	if req.http10 && !req.keepAlive {
		req.close = true
	}
	// The target: origin-form, or absolute-form whose authority replaces Host (RFC 9112 §3.2.2).
	t := req.target
	if len(t) > 8 && (strings.EqualFold(t[:7], "http://") || strings.EqualFold(t[:8], "https://")) {
		rest := t[strings.IndexByte(t, ':')+3:]
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			req.host, t = rest, "/"
		} else {
			req.host, t = rest[:slash], rest[slash:]
		}
		if !validHost(req.host) || req.host == "" {
			return 0, 400
		}
	}
	// Otherwise the target must be origin-form, which starts with '/', or asterisk-form "*"
	// (RFC 9112 §3.2), as net/http's url.ParseRequestURI requires: "?x" or "about" has no
	// path to serve.
	if t != "*" && t[0] != '/' {
		return 0, 400
	}
	if q := strings.IndexByte(t, '?'); q >= 0 {
		req.path, req.query = t[:q], t[q+1:]
	} else {
		req.path = t
	}
	return pos, 0
}

// headLine returns the line of a request head that starts at b[pos], without its CRLF, and
// the position after it. next is 0 when there is no line: perr is then 0 while b holds only
// part of the line, 431 when the line would end beyond max bytes, and 400 when it ends in a
// bare LF.
func headLine(b []byte, pos, max int) (line []byte, next int, perr parseError) {
	nl := bytes.IndexByte(b[pos:], '\n')
	if nl < 0 {
		if len(b) >= max {
			return nil, 0, 431
		}
		return nil, 0, 0
	}
	next = pos + nl + 1
	if next > max {
		return nil, 0, 431
	}
	if nl == 0 || b[pos+nl-1] != '\r' {
		return nil, 0, 400 // bare LF
	}
	return b[pos : pos+nl-1], next, 0
}

// connectionTokens records "close" and "keep-alive" from a Connection field.
func connectionTokens(v string, req *request) {
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, ",")
		tok = trimOWS(tok)
		if strings.EqualFold(tok, "close") {
			req.close = true
		} else if strings.EqualFold(tok, "keep-alive") {
			req.keepAlive = true
		}
	}
}

// validHost accepts the characters of a uri-host with an optional port (reg-name, IPv4,
// bracketed IPv6), refusing anything that could change how a URL built from it parses.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if isAlnum(c) {
			continue
		}
		switch c {
		case '-', '.', '_', '~', ':', '[', ']', '%', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
			continue
		}
		return false
	}
	return true
}

// equalFold compares b with a lower-case ASCII string, ignoring ASCII case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// str views b as a string without copying. The string is valid only while b is unchanged.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
