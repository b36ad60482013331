package httpserve_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/kv"
)

// get fetches a URL without following redirects and prints the status and body.
func get(url string) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(strings.Join(strings.Fields(fmt.Sprint(resp.StatusCode, " ", resp.Header.Get("Location"), " ", string(b))), " "))
}

// Serve a small site from an in-memory store on a kernel listener.
func Example() {
	site := kv.NewMem(nil)
	site.Set("index.html", []byte("<h1>home</h1>"))
	site.Set("about.html", []byte("<h1>about</h1>"))
	site.Set("blog/index.html", []byte("<h1>blog</h1>"))
	site.Set("404.html", []byte("<h1>not found</h1>"))

	srv := httpserve.New(&httpserve.Config{Store: site})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	base := "http://" + ln.Addr().String()
	get(base + "/")
	get(base + "/about")
	get(base + "/blog")
	get(base + "/blog/")
	get(base + "/nope")
	// Output:
	// 200 <h1>home</h1>
	// 200 <h1>about</h1>
	// 301 /blog/
	// 200 <h1>blog</h1>
	// 404 <h1>not found</h1>
}

// Mix static content and dynamic routes on one port: what the site does not have goes to
// the application's handler, which can fall back to the site's 404 page.
func ExampleConfig_fallback() {
	site := kv.NewMem(nil)
	site.Set("index.html", []byte("<h1>home</h1>"))
	site.Set("404.html", []byte("<h1>not found</h1>"))

	var srv *httpserve.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/time", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"now":"always"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { srv.NotFound(w, r) })
	srv = httpserve.New(&httpserve.Config{Store: site, Fallback: mux})

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	base := "http://" + ln.Addr().String()
	get(base + "/")
	get(base + "/api/time")
	get(base + "/nope")
	// Output:
	// 200 <h1>home</h1>
	// 200 {"now":"always"}
	// 404 <h1>not found</h1>
}

// Netlify-style rule files at the site's root.
func Example_rules() {
	site := kv.NewMem(nil)
	site.Set("blog/hello/index.html", []byte("<h1>hello</h1>"))
	site.Set("_redirects", []byte("/posts/:slug /blog/:slug/ 301\n"))
	site.Set("_headers", []byte("/blog/*\n  X-Frame-Options: DENY\n"))

	srv := httpserve.New(&httpserve.Config{Store: site})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	base := "http://" + ln.Addr().String()
	get(base + "/posts/hello")
	resp, _ := http.Get(base + "/blog/hello/")
	resp.Body.Close()
	fmt.Println(resp.Header.Get("X-Frame-Options"))
	// Output:
	// 301 /blog/hello/
	// DENY
}

// Dynamic pages beside static files: routes come first, and a PageFunc's page is rendered
// once, then served as a file is until the content's generation changes.
func ExamplePageFunc() {
	site := kv.NewMem(nil)
	site.Set("style.css", []byte("body{}"))
	site.Set("404.html", []byte("<h1>not found</h1>"))

	var gen atomic.Uint64
	var renders atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("GET /hello/{name}/", httpserve.PageFunc(func(r *http.Request) (*httpserve.Page, error) {
		renders.Add(1)
		return &httpserve.Page{Body: []byte("<p>hello " + html.EscapeString(r.PathValue("name")) + "</p>")}, nil
	}))
	srv := httpserve.New(&httpserve.Config{Store: site, Routes: mux, RoutesGeneration: gen.Load})

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	base := "http://" + ln.Addr().String()
	get(base + "/hello/world/")
	get(base + "/hello/world/")
	get(base + "/style.css")
	get(base + "/nope")
	fmt.Println("renders:", renders.Load())
	gen.Add(1) // the content changed
	get(base + "/hello/world/")
	fmt.Println("renders:", renders.Load())
	// Output:
	// 200 <p>hello world</p>
	// 200 <p>hello world</p>
	// 200 body{}
	// 404 <h1>not found</h1>
	// renders: 1
	// 200 <p>hello world</p>
	// renders: 2
}
