package httpserve

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of Config's zero values.
const (
	// DefaultMaxHeaderBytes is near nginx's 8 KiB large_client_header_buffers: real browsers'
	// request heads are 0.5–2 KiB.
	DefaultMaxHeaderBytes = 8 << 10
	// DefaultReadHeaderTimeout bounds the time from a request's first byte to the end of its
	// head (and a TLS handshake).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout bounds the wait for the next request on a kept-alive connection.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultWriteTimeout bounds the writing of a batch of responses to a slow reader.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultMaxConns is the default cap on open connections.
	DefaultMaxConns = 10000
	// DefaultMaxRanges caps the ranges of a Range field; a field with more is ignored (200).
	DefaultMaxRanges = 16
)

// Resolution holds the clean-URL rules. The zero value behaves as GitHub Pages and Netlify do
// for the output of Jekyll, Hugo or Octopress: "/" and "/about/" serve "index.html" and
// "about/index.html"; "/about" serves "about.html" if it exists, else redirects to "/about/"
// when "about/index.html" exists; a missing page is answered with the nearest "404.html"
// (searching from the request's directory up to the root) and status 404; directories are
// never listed; paths with a segment starting with '.' are hidden (404).
type Resolution struct {
	// IndexName is the file served for a directory; "" means "index.html".
	IndexName string
	// NotFoundPage is the file name of 404 pages; "" means "404.html", "-" disables them.
	NotFoundPage string
	// NoHTMLExtension stops "/about" from serving "about.html".
	NoHTMLExtension bool
	// NoDirRedirect serves "/about" from "about/index.html" directly instead of redirecting
	// to "/about/" (relative links in the page then resolve against "/").
	NoDirRedirect bool
	// RedirectHTML redirects "/x.html" to "/x" (when "/x" serves it), avoiding duplicate URLs.
	RedirectHTML bool
	// RedirectIndex redirects "/x/index.html" to "/x/" (and "/index.html" to "/").
	RedirectIndex bool
	// StripTrailingSlash redirects "/file/" to "/file" when "file" or "file.html" exists, as
	// Netlify does; by default such a request is a 404, as on GitHub Pages.
	StripTrailingSlash bool
	// ShowDotfiles serves paths with segments starting with '.' (".well-known" needs it).
	ShowDotfiles bool
	// NoRules ignores the site's _headers and _redirects files (they are never served).
	NoRules bool
}

// Config configures a Server. The zero value of every field means its default.
type Config struct {
	// Store is the site served for any Host not in Hosts. Nil means only Hosts are served
	// (other hosts get 404, or Fallback).
	Store Store
	// Hosts maps host names (lower case, without port) to their sites: virtual hosts.
	Hosts map[string]Store
	// Resolve holds the clean-URL rules.
	Resolve Resolution
	// RedirectStatus is the status of the redirects httpserve makes itself (trailing slash,
	// RedirectHTML, RedirectIndex); 0 means 301. Redirects are always same-site, relative to
	// the root ("/about/"), never built from Host.
	RedirectStatus int
	// CacheControl returns the Cache-Control value of a successful response for a key and
	// its content type; nil means DefaultCacheControl. A _headers rule overrides it.
	CacheControl func(key, contentType string) string

	// Routes answers the requests its patterns match (Go's ServeMux patterns: method, host,
	// path, wildcards), before static content: a route shadows a file at the same path for
	// every method. A pattern with a host should name a host of Config.Hosts: for other Host
	// values, which all get the default site, patterns are matched as if Host were empty. A
	// handler
	// that is a PageFunc has its pages kept and served as static files are; any other handler
	// answers as Fallback does (see below). A handler that is the Server itself is ignored,
	// and one that calls it gets static content (ServeStatic), so no wiring can loop. The mux
	// must not change after New.
	Routes *http.ServeMux
	// RoutesGeneration returns the generation of what the PageFuncs of Routes render from
	// (posts, templates); a kept page of another generation is rendered again. Nil: pages
	// are rendered again only when their Page.Expires passes.
	RoutesGeneration func() uint64
	// Clock returns the time Page.Expires is compared with; nil means time.Now.
	Clock func() time.Time

	// Fallback answers what has no content: hosts without a site, and paths with no
	// content, whatever the method (without Fallback they get the 404 page, or 405 for
	// methods other than GET and HEAD; use Server.NotFound or ServeStatic to serve those).
	// Content that exists is always served statically, to a GET with a body or Expect too;
	// other methods on it get 405 (Allow: GET, HEAD). To handle other methods on a path
	// that has content, give the path a route in Routes.
	//
	// An HTTP/1.1 connection carrying such a request is handed, with the bytes already read,
	// to a net/http Server that the Server runs inside, and stays with it: from then on,
	// its static requests too are answered through ServeHTTP (correct, but not the
	// allocation-free path). This keeps all of net/http's request-body and streaming
	// semantics for dynamic routes while static traffic keeps its fast path. On such a
	// connection over TLS, the handler's Request.TLS is nil (the connection reaches net/http
	// already decrypted); HTTP/2 requests carry it.
	Fallback http.Handler

	// TLS, if set, makes Serve speak TLS (crypto/tls); HTTP/2 is offered through ALPN
	// unless DisableHTTP2. The configuration needs Certificates or GetCertificate.
	TLS *tls.Config
	// H2C accepts HTTP/2 with prior knowledge on plain connections ("h2c"). The Upgrade
	// mechanism is never honoured.
	H2C bool
	// DisableHTTP2 turns off HTTP/2 (ALPN offers only http/1.1).
	DisableHTTP2 bool

	// ReadHeaderTimeout, IdleTimeout and WriteTimeout are described with their defaults;
	// a negative value disables the timeout.
	ReadHeaderTimeout, IdleTimeout, WriteTimeout time.Duration
	// MaxHeaderBytes caps a request head; 0 means DefaultMaxHeaderBytes. Larger: 431.
	MaxHeaderBytes int
	// MaxConns caps open connections; 0 means DefaultMaxConns. A connection over the cap
	// is answered 503 and closed.
	MaxConns int
	// MaxRanges caps the ranges honoured in one request; 0 means DefaultMaxRanges.
	MaxRanges int

	// AccessLog, if set, gets one Info record per request (method, host, path, status,
	// bytes, duration, remote address, protocol). Logging allocates; the fast path is
	// allocation-free only without it.
	AccessLog *slog.Logger
	// Logger gets warnings (rules skipped, connections refused); nil means slog.Default().
	Logger *slog.Logger
}

// fillDefaults replaces the zero values of c with the defaults its fields document.
func (c *Config) fillDefaults() {
	if c.Resolve.IndexName == "" {
		c.Resolve.IndexName = "index.html"
	}
	if c.Resolve.NotFoundPage == "" {
		c.Resolve.NotFoundPage = "404.html"
	}
	if c.RedirectStatus == 0 {
		c.RedirectStatus = http.StatusMovedPermanently
	}
	if c.CacheControl == nil {
		c.CacheControl = DefaultCacheControl
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxRanges <= 0 {
		c.MaxRanges = DefaultMaxRanges
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
