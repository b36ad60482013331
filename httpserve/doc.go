// Package httpserve is unikit's static-site server: it serves the content of kv stores
// (Jekyll, Hugo or Octopress output) over HTTP/1.1, HTTP/2 and TLS on any net.Listener — the
// kernel's or a netstack Stack's — and hands what it does not serve statically to an
// http.Handler of the application.
package httpserve
