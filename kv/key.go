package kv

import (
	"strings"
	"unicode/utf8"
)

// Limits on keys. They are far above what site generators emit and keep a hostile request
// path from costing much work.
const (
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 4096
	// MaxSegmentLen is the longest segment of a key, in bytes (NAME_MAX on Linux).
	MaxSegmentLen = 255
)

// ValidKey reports whether key is in normal form:
//   - it is not empty and at most MaxKeyLen bytes long;
//   - it is valid UTF-8 and contains no NUL, no other control character (U+0000 to U+001F,
//     U+007F) and no backslash;
//   - it neither begins nor ends with "/";
//   - its "/"-separated segments are neither empty, nor "." nor "..", and each is at most
//     MaxSegmentLen bytes.
//
// Keys in normal form are also valid fs.FS names (fs.ValidPath), and no two different
// normal keys name the same file on any operating system the store is loaded from.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return false
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) {
			c := key[i]
			if c < 0x20 || c == 0x7f || c == '\\' {
				return false
			}
			if c != '/' {
				continue
			}
		}
		seg := key[start:i]
		if len(seg) == 0 || len(seg) > MaxSegmentLen || seg == "." || seg == ".." {
			return false
		}
		start = i + 1
	}
	return utf8.ValidString(key)
}

// validPrefix reports whether prefix is "" (the root) or a valid key.
func validPrefix(prefix string) bool { return prefix == "" || ValidKey(prefix) }

// CleanKey turns a path, such as the path of an HTTP request (already percent-decoded),
// into a key in normal form. It removes leading and trailing slashes, empty segments ("//")
// and "." segments. It refuses, with ErrInvalidKey, a path with a ".." segment (it does not
// resolve them: a path that needs it is not one a browser sends), with a NUL, another control
// character, a backslash or invalid UTF-8 (including overlong encodings), or one that would be
// longer than MaxKeyLen or have a segment longer than MaxSegmentLen.
//
// A path that names the root ("", "/", "/./") gives "" and no error; "" is a valid prefix
// for List but never a key of an entry. A path that is in normal form once its leading and
// trailing slashes are removed ("/about/") gives its substring, without allocating.
//
// CleanKey is idempotent, and its result is "" or satisfies ValidKey.
func CleanKey(path string) (string, error) {
	if ValidKey(path) {
		return path, nil
	}
	if trimmed := strings.Trim(path, "/"); len(trimmed) < len(path) && ValidKey(trimmed) {
		return trimmed, nil
	}
	if len(path) > 4*MaxKeyLen {
		return "", ErrInvalidKey
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", ErrInvalidKey
		}
	}
	if !utf8.ValidString(path) {
		return "", ErrInvalidKey
	}
	var b strings.Builder
	for seg := range strings.SplitSeq(path, "/") {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return "", ErrInvalidKey
		case len(seg) > MaxSegmentLen:
			return "", ErrInvalidKey
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(seg)
		if b.Len() > MaxKeyLen {
			return "", ErrInvalidKey
		}
	}
	return b.String(), nil
}

// parentDir returns the directory part of a valid key: "" for a top-level key.
func parentDir(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i]
	}
	return ""
}

// baseName returns the last segment of a valid key.
func baseName(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}
