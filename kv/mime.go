package kv

import (
	"path"
	"strings"
)

// DefaultContentType is the type of content whose extension the table does not know. The
// store does not sniff content (as http.DetectContentType would): the type of a file then
// depends only on its name, the same for every build of the same site, and a user's upload
// cannot turn itself into HTML.
const DefaultContentType = "application/octet-stream"

// ContentType returns the media type of a file name, from its extension (case-insensitive),
// through a table embedded in the program: a unikernel has no /etc/mime.types. Text types
// carry "; charset=utf-8". An unknown or missing extension gives DefaultContentType.
// ContentType does not allocate.
func ContentType(name string) string {
	ext := path.Ext(name)
	if ext == "" {
		return DefaultContentType
	}
	ext = ext[1:]
	if len(ext) > 16 {
		return DefaultContentType
	}
	// Lower-case into a stack buffer: strings.ToLower would allocate for "INDEX.HTML".
	var buf [16]byte
	for i := 0; i < len(ext); i++ {
		c := ext[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if t := mimeType(string(buf[:len(ext)])); t != "" {
		return t
	}
	return DefaultContentType
}

// mimeType maps a lower-case extension without the dot to a media type; "" if unknown.
// The set is what static sites publish: what nginx's mime.types, Go's built-in table and
// static-web-server's list agree on, plus the web formats that came since (avif, webmanifest,
// mjs, wasm, woff2).
func mimeType(ext string) string {
	const utf8 = "; charset=utf-8"
	switch ext {
	// Text and documents.
	case "html", "htm", "shtml":
		return "text/html" + utf8
	case "xhtml":
		return "application/xhtml+xml" + utf8
	case "css":
		return "text/css" + utf8
	case "js", "mjs", "cjs":
		return "text/javascript" + utf8
	case "json", "map", "topojson", "geojson":
		return "application/json" + utf8
	case "jsonld":
		return "application/ld+json" + utf8
	case "webmanifest":
		return "application/manifest+json" + utf8
	case "xml", "xsl", "xslt":
		return "application/xml" + utf8
	case "atom":
		return "application/atom+xml" + utf8
	case "rss":
		return "application/rss+xml" + utf8
	case "txt", "text", "log", "asc":
		return "text/plain" + utf8
	case "md", "markdown":
		return "text/markdown" + utf8
	case "csv":
		return "text/csv" + utf8
	case "tsv":
		return "text/tab-separated-values" + utf8
	case "ics":
		return "text/calendar" + utf8
	case "vtt":
		return "text/vtt" + utf8
	case "yaml", "yml":
		return "application/yaml" + utf8
	case "toml":
		return "application/toml" + utf8
	case "svg", "svgz":
		return "image/svg+xml" + utf8
	case "pdf":
		return "application/pdf"
	case "rtf":
		return "application/rtf"
	case "epub":
		return "application/epub+zip"
	// Images.
	case "png":
		return "image/png"
	case "jpg", "jpeg", "jpe", "jfif":
		return "image/jpeg"
	case "gif":
		return "image/gif"
	case "webp":
		return "image/webp"
	case "avif":
		return "image/avif"
	case "jxl":
		return "image/jxl"
	case "ico":
		return "image/vnd.microsoft.icon"
	case "bmp":
		return "image/bmp"
	case "tif", "tiff":
		return "image/tiff"
	case "heic":
		return "image/heic"
	// Fonts.
	case "woff":
		return "font/woff"
	case "woff2":
		return "font/woff2"
	case "ttf":
		return "font/ttf"
	case "otf":
		return "font/otf"
	case "eot":
		return "application/vnd.ms-fontobject"
	// Audio and video.
	case "mp4", "m4v":
		return "video/mp4"
	case "webm":
		return "video/webm"
	case "ogv":
		return "video/ogg"
	case "mov":
		return "video/quicktime"
	case "mp3":
		return "audio/mpeg"
	case "ogg", "oga", "opus":
		return "audio/ogg"
	case "m4a":
		return "audio/mp4"
	case "wav":
		return "audio/wav"
	case "flac":
		return "audio/flac"
	case "aac":
		return "audio/aac"
	case "weba":
		return "audio/webm"
	case "m3u8":
		return "application/vnd.apple.mpegurl"
	// Archives and binaries.
	case "wasm":
		return "application/wasm"
	case "zip":
		return "application/zip"
	case "gz", "tgz":
		return "application/gzip"
	case "br":
		return "application/x-brotli"
	case "zst":
		return "application/zstd"
	case "tar":
		return "application/x-tar"
	case "bz2":
		return "application/x-bzip2"
	case "xz":
		return "application/x-xz"
	case "7z":
		return "application/x-7z-compressed"
	case "bin", "exe", "dll", "iso", "img", "dmg", "deb", "rpm":
		return "application/octet-stream"
	case "apk":
		return "application/vnd.android.package-archive"
	case "jar":
		return "application/java-archive"
	case "doc":
		return "application/msword"
	case "docx":
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case "xls":
		return "application/vnd.ms-excel"
	case "xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case "ppt":
		return "application/vnd.ms-powerpoint"
	case "pptx":
		return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	case "odt":
		return "application/vnd.oasis.opendocument.text"
	case "wgsl":
		return "text/wgsl" + utf8
	case "pem", "crt":
		return "application/x-x509-ca-cert"
	}
	return ""
}

// Compressible reports whether content of the given media type gains from compression:
// text, and the binary formats that are not compressed already (wasm, fonts other than woff,
// icons, PDF is left out as it usually compresses its streams).
func Compressible(contentType string) bool {
	t, _, _ := strings.Cut(contentType, ";")
	if strings.HasPrefix(t, "text/") {
		return true
	}
	switch t {
	case "application/json", "application/ld+json", "application/manifest+json",
		"application/xml", "application/xhtml+xml", "application/atom+xml",
		"application/rss+xml", "application/yaml", "application/toml", "image/svg+xml",
		"application/wasm", "font/ttf", "font/otf", "application/vnd.ms-fontobject",
		"image/vnd.microsoft.icon", "image/bmp", "application/x-tar", "application/rtf":
		return true
	}
	return false
}
