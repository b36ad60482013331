package httpserve

import (
	"errors"
	"unicode/utf8"
)

// errBadPath reports a request path that httpserve refuses outright (400 Bad Request): an
// invalid percent escape, an encoded slash, a backslash, a NUL or other control character,
// invalid UTF-8 (which includes overlong encodings), a fragment, or a ".." segment that would
// climb above the site's root.
var errBadPath = errors.New("httpserve: bad request path")

// maxPathLen bounds a decoded path; longer ones are refused.
const maxPathLen = 4096

// cleanPath decodes the path part of a request target (without the query) exactly once and
// removes its dot segments, appending the result to dst[:0]. The result always starts with
// '/', has no empty, "." or ".." segments, and ends with '/' when the request named a
// directory ("/a/", "/a/." and "/a/b/.." all give "/a/").
//
// Decoding happens once: "%252e" becomes the literal three bytes "%2e", never ".". Escapes of
// '/' ("%2F") and '\' ("%5C") are refused rather than treated as separators or data, as are
// raw backslashes, so no encoding of a separator reaches the resolver; so are NUL and other
// control characters and invalid UTF-8, which includes overlong forms such as "%C0%AE".
func cleanPath(dst []byte, raw string) ([]byte, error) {
	dst = dst[:0]
	if len(raw) == 0 || raw[0] != '/' || len(raw) > 3*maxPathLen {
		return dst, errBadPath
	}
	// Pass 1: decode into dst.
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '#', '\\':
			return dst, errBadPath
		case '%':
			if i+2 >= len(raw) {
				return dst, errBadPath
			}
			h, ok1 := unhex(raw[i+1])
			l, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return dst, errBadPath
			}
			c = h<<4 | l
			if c == '/' || c == '\\' {
				return dst, errBadPath
			}
			i += 2
		}
		if c < 0x20 || c == 0x7f {
			return dst, errBadPath
		}
		dst = append(dst, c)
	}
	if len(dst) > maxPathLen || !utf8.Valid(dst) {
		return dst, errBadPath
	}
	// Pass 2: remove dot segments in place. dst[:w] is the output so far and always ends
	// with '/'; r reads the next segment, never behind w.
	w, dir := 1, true
	size := len(dst) // dst may grow by the one '/' appended after a last segment
	for r := 1; r <= size; {
		end := r
		for end < size && dst[end] != '/' {
			end++
		}
		n := end - r
		switch {
		case n == 0:
			dir = true
		case n == 1 && dst[r] == '.':
			dir = true
		case n == 2 && dst[r] == '.' && dst[r+1] == '.':
			if w <= 1 {
				return dst[:0], errBadPath
			}
			w-- // the '/' ending the previous segment
			for dst[w-1] != '/' {
				w--
			}
			dir = true
		default:
			w += copy(dst[w:], dst[r:end])
			if w == len(dst) {
				dst = append(dst, '/')
			} else {
				dst[w] = '/'
			}
			w++
			dir = false
		}
		r = end + 1
	}
	if !dir {
		w-- // no trailing slash after a file name
	}
	return dst[:w], nil
}

// unhex returns the value of the hexadecimal digit c.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hiddenPath reports whether a clean path has a segment starting with '.' (a dotfile or a
// file inside a dot-directory such as /.git/config).
func hiddenPath(p []byte) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '/' && p[i+1] == '.' {
			return true
		}
	}
	return false
}

// appendEscapedPath appends p, a clean path, percent-encoding every byte outside RFC 3986's
// unreserved characters, sub-delims, ':', '@' and '/'; in particular '\', '%', '?', '#',
// spaces and non-ASCII bytes are encoded. Because p has no empty segments, the result never
// starts with "//" and so can never be read as a network-path (protocol-relative) reference.
func appendEscapedPath(dst []byte, p string) []byte {
	const hexdig = "0123456789ABCDEF"
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			dst = append(dst, c)
			continue
		}
		switch c {
		case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hexdig[c>>4], hexdig[c&15])
		}
	}
	return dst
}
