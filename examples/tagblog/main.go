// Command tagblog is a templated blog appliance: posts stored as JSON, rendered on request
// from html/template templates, a subdomain per tag, and posts dated in the future that
// appear when their date comes, served by httpserve through the appliance's own TCP/IP stack.
// Pages are httpserve.PageFuncs: each is rendered once per change and then served as a static
// file is (ETag, 304, ranges, gzip and brotli, no allocation per request).
//
//	go run ./examples/tagblog
//	curl http://127.0.0.1:8080/
//	curl -H 'Host: http.localhost' http://127.0.0.1:8080/   # the posts tagged "http"
//
// Routes: "/" lists the published posts, newest first, 10 a page ("/page/2/", ...);
// "/posts/{slug}/" is a post ("/posts/{slug}" redirects there); "/tags/{tag}/" and the host
// "{tag}.{domain}" list that tag's posts only; "/feed.xml" and "/tags/{tag}/feed.xml" are Atom
// feeds of the 20 newest posts. Anything else is 404 with the site's 404 page, as are unknown
// posts and tags. Other Host values get the main site; the Host header is never written into
// a page (feed links use -domain).
//
// Flags, beside the -net family of package appliance:
//
//	-posts DIR       every *.json file in DIR is a post, its name without .json the slug:
//	                 {"title": ..., "date": RFC 3339 with offset, "tags": [...], "body": CommonMark}
//	                 (raw HTML in a body is not passed through); a file that does not parse is
//	                 reported and skipped. Default: the embedded sample posts.
//	-templates DIR   the *.html templates (index.html, post.html, tag.html, 404.html and the
//	                 partials of layout.html) instead of the embedded ones
//	-static DIR      assets (CSS, images) served as static files, beside the embedded style.css
//	-domain NAME     the site's domain, for tag subdomains and feed links (default localhost)
//
// SIGHUP reloads posts and templates without failing a request; SIGINT or SIGTERM stops the
// appliance gracefully.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/httpserve"
	"github.com/unikit/unikit/kv"
)

// The sample posts, the default templates and the default assets.
//
//go:embed posts templates static
var embedded embed.FS

// httpPort is the service port on the stack.
const httpPort = 80

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tagblog:", err)
		os.Exit(1)
	}
}

// options are the tagblog's own flags, beside the appliance's.
type options struct {
	posts, templates, static string
	domain                   string
	accessLog                bool
}

// site is a loaded blog with its static files and the server that serves both.
type site struct {
	opts   options
	blog   *Blog
	static *kv.Mem
	srv    *httpserve.Server
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tagblog", flag.ContinueOnError)
	var (
		o options
		s *site
	)
	app := appliance.New(&appliance.Config{Flags: fs, Out: out, Reload: func(context.Context) error {
		if err := s.reload(); err != nil {
			return fmt.Errorf("still serving the previous posts and templates: %w", err)
		}
		slog.Info("tagblog: posts and templates reloaded", "posts", len(s.blog.state.Load().content.posts))
		return nil
	}})
	fs.StringVar(&o.posts, "posts", "", "read the posts (*.json) from this directory instead of the embedded sample")
	fs.StringVar(&o.templates, "templates", "", "read the html/template templates (*.html) from this directory")
	fs.StringVar(&o.static, "static", "", "also serve the files of this directory (CSS, images) statically")
	fs.StringVar(&o.domain, "domain", "localhost", "the site's domain, for tag subdomains ({tag}.DOMAIN) and feed links")
	fs.BoolVar(&o.accessLog, "access-log", false, "log every request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var err error
	s, err = newSite(o, time.Now, slog.Default())
	if err != nil {
		return err
	}
	port := appliance.Port{Number: httpPort, Server: s.srv,
		Name: fmt.Sprintf("%d posts", len(s.blog.state.Load().content.posts))}
	return app.Run(context.Background(), port)
}

// newSite loads the posts, templates and assets o names and makes the server, with a clock.
func newSite(o options, now func() time.Time, log *slog.Logger) (*site, error) {
	o.domain = strings.ToLower(strings.TrimSuffix(o.domain, "."))
	if o.domain == "" || strings.ContainsAny(o.domain, "/:*") {
		return nil, fmt.Errorf("-domain %q: want a host name", o.domain)
	}
	s := &site{opts: o, blog: newBlog(o.domain, now, log),
		static: kv.NewMem(&kv.MemConfig{Encodings: []string{kv.EncodingBrotli, kv.EncodingGzip}})}
	if err := s.loadStatic(); err != nil {
		return nil, err
	}
	if err := s.reload(); err != nil {
		return nil, err
	}
	cfg := &httpserve.Config{
		Store:            s.static,
		Hosts:            map[string]httpserve.Store{"*." + o.domain: s.static},
		Routes:           s.blog.Routes(),
		RoutesGeneration: s.blog.Generation,
		Clock:            now,
		Logger:           log,
	}
	if o.accessLog {
		cfg.AccessLog = log
	}
	s.srv = httpserve.New(cfg)
	return s, nil
}

// dirOr returns the directory dir as a file system, or the embedded sub-directory name.
func dirOr(dir, name string) fs.FS {
	if dir != "" {
		return os.DirFS(dir)
	}
	sub, err := fs.Sub(embedded, name)
	if err != nil {
		panic(err) // the directory is embedded
	}
	return sub
}

// reload reads the posts and templates again and renders the 404 page into the static files
// (which httpserve serves for paths with no content).
func (s *site) reload() error {
	if err := s.blog.load(dirOr(s.opts.posts, "posts"), dirOr(s.opts.templates, "templates")); err != nil {
		return err
	}
	page, err := s.blog.NotFoundPage()
	if err != nil {
		return fmt.Errorf("rendering 404.html: %w", err)
	}
	return s.static.Set("404.html", page)
}

// loadStatic stores the embedded assets, then those of -static.
func (s *site) loadStatic() error {
	add := func(fsys fs.FS) error {
		return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			return s.static.Set(p, data)
		})
	}
	if err := add(dirOr("", "static")); err != nil {
		return err
	}
	if s.opts.static != "" {
		return add(os.DirFS(s.opts.static))
	}
	return nil
}
