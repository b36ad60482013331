package httpserve

import "strings"

// DefaultCacheControl is the Cache-Control policy used when Config.CacheControl is nil:
// fingerprinted assets (see Fingerprinted) are "public, max-age=31536000, immutable";
// everything else, HTML included, is "no-cache", so browsers revalidate (cheaply, with the
// ETag) and never show a stale page after a deploy.
func DefaultCacheControl(key, contentType string) string {
	if Fingerprinted(key) {
		return "public, max-age=31536000, immutable"
	}
	return "no-cache"
}

// Fingerprinted reports whether a file name carries a content hash, as asset pipelines write
// them: a dot-, dash- or underscore-separated run of at least 8 hexadecimal digits before the
// extension ("app.3f2a9c1b.css", "main-3f2a9c1bd0e4.js", "style.min.<sha256>.css").
// HTML files are never fingerprinted.
func Fingerprinted(key string) bool {
	base := key[strings.LastIndexByte(key, '/')+1:]
	dot := strings.LastIndexByte(base, '.')
	if dot <= 0 {
		return false
	}
	if ext := base[dot:]; ext == ".html" || ext == ".htm" {
		return false
	}
	stem := base[:dot]
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if c != '.' && c != '-' && c != '_' {
			continue
		}
		j := i + 1
		for j < len(stem) && isHex(stem[j]) {
			j++
		}
		if j-(i+1) >= 8 && (j == len(stem) || stem[j] == '.' || stem[j] == '-' || stem[j] == '_') {
			return true
		}
	}
	return false
}

// isHex reports whether c is a hexadecimal digit, in either case.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
