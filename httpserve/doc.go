// Package httpserve is unikit's static-site server: it serves the content of kv stores (the
// output directory of Jekyll, Hugo or Octopress, embedded or loaded at start) over HTTP/1.1,
// HTTP/2 and TLS on any net.Listener — the kernel's or a netstack Stack's — and hands what it
// does not serve statically to an http.Handler of the application, so static pages and
// dynamic routes share one port.
//
// # Resolution
//
// Request paths are percent-decoded exactly once and cleaned; an encoded slash or backslash,
// a raw backslash, NUL or other control characters, invalid UTF-8 (overlong forms included)
// and ".." segments that would climb above the root are refused with 400, so no encoding of
// a traversal reaches the store ("%252e" stays the literal "%2e"). The clean path then
// resolves as GitHub Pages and Netlify users expect (see Resolution, every rule of which can
// be changed): "/" and "/about/" serve "index.html" and "about/index.html"; "/about" serves
// "about.html", else redirects to "/about/" when "about/index.html" exists; missing paths
// get the nearest "404.html" with status 404; there are no directory listings and dotfiles
// are hidden. Redirects are path-absolute, re-encoded from the clean path, and never start
// with "//" or "/\", so no request can turn them into a redirect off the site.
//
// A site may carry Netlify's rule files at its root: "_redirects" (from, to, status with an
// optional "!" to force; ":placeholders" and "*" splats; 301, 302, 303, 307, 308, 200
// rewrites, 404 and 410 pages; a rule without "!" yields to content that exists) and
// "_headers" (path patterns followed by indented "Name: value" lines). They are read once
// per content generation and never served.
//
// # HTTP semantics
//
// GET and HEAD are served; other methods get 405 with "Allow: GET, HEAD" on content that
// exists, and go to Config.Fallback where there is none. Every response of content carries a strong ETag from the SHA-256 digest
// the store computed, distinct for each precompressed variant, and Last-Modified when the
// store knows a modification time. If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since are evaluated in RFC 9110's order, as net/http does, giving 412 or 304.
// Range and If-Range give 206 with one range or multipart/byteranges with several; more than
// Config.MaxRanges ranges, or ranges adding up to more than the representation, or multipart
// framing larger than the whole, are answered with the whole (200), and "bytes=-0" or a start
// beyond the end with 416. Accept-Encoding chooses among the store's precompressed variants
// (br, zstd, gzip) with q-values, and "Vary: Accept-Encoding" is sent wherever variants
// exist. Content-Type comes from the store (kv's embedded MIME table, charset=utf-8 on text),
// with "X-Content-Type-Options: nosniff". Cache-Control is "no-cache" for HTML and other
// unfingerprinted files and "public, max-age=31536000, immutable" for fingerprinted assets
// (see DefaultCacheControl and Fingerprinted). Config.Hosts maps Host values to their own
// stores (virtual hosts), exactly or by wildcard ("*.example.org"; HostLabel gives a
// handler the label it matched).
//
// # Routes, fallback and pages
//
// Config.Routes, a ServeMux, answers the requests its patterns match before static content;
// Config.Fallback answers what has no content (paths, or hosts without a site). A route
// handler that is a PageFunc renders a Page that the Server keeps and serves as it serves a
// file (ETag, 304, Range, precompressed variants, HEAD, and no allocation on the fast path)
// until Config.RoutesGeneration changes or the page's Expires passes, so a dynamic page is
// rendered once per change, not per request. A handler can serve statically with
// ServeStatic, and a Server reached again through its own handlers serves statically, so no
// wiring (a mux whose "/" is the Server) loops.
//
// # Engine
//
// Responses are prepared ahead: for each resolved path, content generation and encoding, the
// status line and header fields are serialised once and the body is a view of the store's
// bytes. HTTP/1.1 connections are read by the package's own request parser over a
// per-connection buffer, with keep-alive and pipelining. The responses of a batch of pipelined
// requests are queued as a list of buffers, the heads in a per-connection buffer and the bodies
// as views of the store, and written in the fewest segments the connection allows: on kernel
// sockets with one gathered write (writev, or on Linux sendmsg), and on a netstack Stack's
// connections with one WriteBuffers, a single write of the TCP endpoint while its send buffer
// has room, so that on both a body is copied only into the socket. On 64-bit Linux a kernel TCP
// socket gets a body of 32 to 512 KiB without even that copy, as nginx sends from the page
// cache: with sendfile(2) from a sealed memfd holding the body, made the first time the body
// goes to a kernel socket (a second copy of it, in the kernel's shared memory, for as long as
// the content is served), the bytes before it sent with MSG_MORE so that the head leaves in
// the body's first segment. Elsewhere (TLS, or a wrapper that hides its
// socket) a flush of up to 32 KiB is copied into one pooled buffer and written with one Write,
// rather than as a TLS record (or segment) per buffer; a larger flush is written buffer by
// buffer. A cached GET makes no heap allocation. The parser refuses ambiguous framing
// (Content-Length with Transfer-Encoding, Transfer-Encoding other than one "chunked", differing
// Content-Lengths, obs-fold, bare LF, invalid names or values, missing or repeated Host) with
// 400 and closes the connection.
//
// A request the fast path does not answer statically or with a kept page (a route other than
// a PageFunc, or Config.Fallback) is handed, with its connection and the bytes already read,
// to a net/http Server running inside the Server, whose handler is the Server itself
// (ServeHTTP: Routes, static content, then Fallback). A PageFunc's page is rendered in line
// on the fast path, the first time and after each change.
// HTTP/2 is served by golang.org/x/net/http2 through ServeHTTP, after TLS ALPN ("h2") or,
// with Config.H2C, on plain connections that start with the HTTP/2 preface; the h2c Upgrade
// header is never honoured.
//
// # Limits and observability
//
// Config sets the read-header, idle and write timeouts, the maximum request head (8 KiB by
// default, as nginx) and the maximum number of connections; Shutdown stops gracefully.
// Config.AccessLog receives one log/slog record per request, and Stats returns counters of
// requests, status classes, bytes and connections.
package httpserve
