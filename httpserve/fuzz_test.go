package httpserve

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCleanPath checks that path decoding never panics, and that whatever it accepts is a
// clean absolute path: no "..", ".", empty segments, backslashes, NUL or invalid UTF-8, so
// nothing it returns can name anything outside the site.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b/", "/../x", "/%2e%2e/", "/%252e", "/..%5c", "/\\x", "/a%00",
		"/%C0%AE%C0%AE/", "//evil.com", "/a/./b/../c", "/%2F", "/%zz", "/a%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := cleanPath(nil, raw)
		if err != nil {
			return
		}
		p := string(out)
		if !strings.HasPrefix(p, "/") || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("cleanPath(%q) = %q", raw, p)
		}
		for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
			if p != "/" && (seg == "" || seg == "." || seg == "..") {
				t.Fatalf("cleanPath(%q) = %q has segment %q", raw, p, seg)
			}
		}
		// Escaping for a Location keeps it on the site.
		loc := escapeLocation(p)
		if strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\ \r\n") {
			t.Fatalf("escapeLocation(%q) = %q", p, loc)
		}
		// Idempotent on its own escaped output.
		again, err := cleanPath(nil, loc)
		if err != nil || string(again) != p {
			t.Fatalf("cleanPath(escape(%q)) = %q, %v", p, again, err)
		}
	})
}

// FuzzParseRange checks that Range parsing never panics and never yields ranges outside the
// representation or adding up to more than it.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-0", "bytes=0-18446744073709551615", "bytes=-18446744073709551615",
		"bytes=5-1", "bytes=0-,0-", "bytes=1-2,3-4,-5", "items=1-2", "bytes= 1-2 , 3-4", strings.Repeat("bytes=0-0,", 100)} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		out, res := parseRange(h, size, DefaultMaxRanges, nil)
		var total int64
		for _, r := range out {
			if r.start < 0 || r.length <= 0 || r.start+r.length > size || r.start+r.length < r.start {
				t.Fatalf("parseRange(%q, %d): bad range %+v", h, size, r)
			}
			total += r.length
		}
		if res == rangeOK && (len(out) == 0 || total > size || len(out) > DefaultMaxRanges) {
			t.Fatalf("parseRange(%q, %d) = %v, %v", h, size, out, res)
		}
	})
}

// FuzzParseRequest checks that the request parser never panics, never reads past the limit,
// and gives consistent framing: a request with both Content-Length and Transfer-Encoding, or
// Transfer-Encoding in HTTP/1.0, is never accepted.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x?y HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n Folded: x\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET http://h/p HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nIf-None-Match: \"x\"\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req request
		n, perr := parseRequest(b, 1024, &req)
		if perr != 0 {
			if n != 0 {
				t.Fatalf("error %d with length %d", perr, n)
			}
			return
		}
		if n == 0 {
			return
		}
		if n > len(b) || n > 1024 {
			t.Fatalf("length %d beyond input %d", n, len(b))
		}
		head := b[:n]
		if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
			t.Fatalf("head does not end with CRLFCRLF: %q", head)
		}
		lower := strings.ToLower(string(head))
		if strings.Contains(lower, "\ntransfer-encoding:") && (strings.Contains(lower, "\ncontent-length:") || req.http10) {
			t.Fatalf("ambiguous framing accepted: %q", head)
		}
		if strings.Contains(string(head[:len(head)-2]), "\n ") || strings.Contains(string(head), "\n\t") {
			t.Fatalf("obs-fold accepted: %q", head)
		}
		if req.path == "" {
			t.Fatalf("no path: %q", head)
		}
	})
}

// FuzzRules parses _redirects and _headers files from the fuzzer (they come with the content,
// which is untrusted) and applies them to a request path: parsing never panics, a redirect's
// Location never carries a control character and never leaves the site through a path that
// starts with "//" or "/\", and every header field a rule adds is a valid name and value, so
// a rule file cannot split a response.
func FuzzRules(f *testing.F) {
	f.Add("/blog/* /posts/:splat 301\n/old /new 302!\n/blog* /:splat 308", "/*\n  X-Frame-Options: DENY\n/posts/*\n  Cache-Control: max-age=60", "/blog//evil.example")
	f.Add("/:a/:b /:b/:a 301", "/:x\n  Link: </style.css>; rel=preload", "/one/two")
	f.Add("/a* /x/:splat 200\n/x/* /404.html 404", "/a\n\tBad Name: v\n  X: \x7f", "/abc/%0d%0aSet-Cookie:x")
	f.Add("/* https://example.com/:splat 301", "", "/%2f%2fevil/x")
	f.Fuzz(func(t *testing.T, redirects, headers, rawPath string) {
		rr, _ := parseRedirects(redirects)
		hr, _ := parseHeaders(headers)
		clean, err := cleanPath(nil, rawPath)
		if err != nil {
			return
		}
		p := string(clean)
		for i := range rr {
			if !rr[i].from.match(p, nil) {
				continue
			}
			to := rr[i].expand(p)
			if rr[i].status >= 300 && rr[i].status < 400 {
				to = safeLocation(to)
				if strings.HasPrefix(to, "/") && len(to) > 1 && (to[1] == '/' || to[1] == '\\') {
					t.Fatalf("Location %q leaves the site (rule %+v, path %q)", to, rr[i], p)
				}
			}
			if !validHeaderValue(to) {
				t.Fatalf("target %q has a control character (rule %+v, path %q)", to, rr[i], p)
			}
		}
		for _, h := range headersFor(hr, p) {
			if !validHeaderName(h.name) || !validHeaderValue(h.value) {
				t.Fatalf("header %q: %q", h.name, h.value)
			}
		}
	})
}
