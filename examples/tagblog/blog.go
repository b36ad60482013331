package main

import (
	"bytes"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/httpserve"
)

// perPage is the number of posts on each page of the front list.
const perPage = 10

// Blog renders the pages of one domain from its posts and templates. Its pages are
// httpserve.PageFuncs: the server keeps each rendered page until the posts or templates are
// reloaded (Generation) or the next scheduled post's date passes (Page.Expires).
type Blog struct {
	domain string
	now    func() time.Time
	log    *slog.Logger

	gen   atomic.Uint64
	state atomic.Pointer[state]
}

// state is one loaded generation: the posts and the templates.
type state struct {
	content *content
	tmpl    *template.Template
}

// newBlog returns a Blog for domain, with a clock (time.Now in production).
func newBlog(domain string, now func() time.Time, log *slog.Logger) *Blog {
	return &Blog{domain: domain, now: now, log: log}
}

// load parses templates and posts and makes them current: a new generation. On error (the
// templates do not parse) the previous state stays.
func (b *Blog) load(posts, templates fs.FS) error {
	t, err := parseTemplates(templates)
	if err != nil {
		return err
	}
	list, err := loadPosts(posts, b.log)
	if err != nil {
		return err
	}
	b.state.Store(&state{content: newContent(list), tmpl: t})
	b.gen.Add(1)
	return nil
}

// Generation is the number of loads so far, for httpserve.Config.RoutesGeneration.
func (b *Blog) Generation() uint64 { return b.gen.Load() }

// parseTemplates parses the *.html templates of fsys.
func parseTemplates(fsys fs.FS) (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{"pathEscape": url.PathEscape}).ParseFS(fsys, "*.html")
}

// Routes returns the blog's routes.
func (b *Blog) Routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", httpserve.PageFunc(b.home))
	mux.Handle("GET /page/{n}/", httpserve.PageFunc(b.listPage))
	mux.Handle("GET /posts/{slug}/", httpserve.PageFunc(b.postPage))
	mux.Handle("GET /tags/{tag}/", httpserve.PageFunc(b.tagPage))
	mux.Handle("GET /feed.xml", httpserve.PageFunc(b.siteFeed))
	mux.Handle("GET /tags/{tag}/feed.xml", httpserve.PageFunc(b.tagFeed))
	for _, p := range []string{"GET /page/{n}", "GET /posts/{slug}", "GET /tags/{tag}"} {
		mux.HandleFunc(p, addSlash)
	}
	return mux
}

// addSlash redirects permanently to the request's path with a slash added: the canonical
// URL. The path is the request's own, which starts with a segment of the pattern, so the
// Location stays on the site.
func addSlash(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", r.URL.EscapedPath()+"/")
	w.WriteHeader(http.StatusMovedPermanently)
}

// pageData is what the templates get.
type pageData struct {
	Site  string
	Title string
	Feed  string // path of the page's Atom feed
	Tag   string
	Posts []*Post
	Post  *Post
	Body  template.HTML
	Prev  string
	Next  string
}

// render executes a template into a Page, which expires when the next post appears.
func (b *Blog) render(st *state, now time.Time, status int, name string, d *pageData) (*httpserve.Page, error) {
	d.Site = b.domain
	var buf bytes.Buffer
	if err := st.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		return nil, err
	}
	return &httpserve.Page{Status: status, Body: buf.Bytes(), Expires: st.content.nextChange(now)}, nil
}

// notFound renders the 404 page.
func (b *Blog) notFound(st *state, now time.Time) (*httpserve.Page, error) {
	return b.render(st, now, http.StatusNotFound, "404.html", &pageData{Title: "Not found"})
}

// NotFoundPage renders the 404 page of the current state, for the static store's 404.html.
func (b *Blog) NotFoundPage() ([]byte, error) {
	p, err := b.notFound(b.state.Load(), b.now())
	if err != nil {
		return nil, err
	}
	return p.Body, nil
}

// subdomainTag returns the tag a request's wildcard host names, "" for the main site; ok is
// false for a subdomain that names no tag with published posts.
func (b *Blog) subdomainTag(r *http.Request, st *state, now time.Time) (tag string, ok bool) {
	label := httpserve.HostLabel(r)
	if label == "" || label == "www" {
		return "", true
	}
	tag, found := st.content.tagOfLabel[label]
	if !found || st.content.tagPosts(tag, now) == nil {
		return "", false
	}
	return tag, true
}

// home is "/": the first page of posts, or on a tag's subdomain that tag's posts.
func (b *Blog) home(r *http.Request) (*httpserve.Page, error) {
	st, now := b.state.Load(), b.now()
	tag, ok := b.subdomainTag(r, st, now)
	switch {
	case !ok:
		return b.notFound(st, now)
	case tag != "":
		return b.renderTag(st, now, tag)
	}
	return b.renderList(st, now, 1)
}

// listPage is "/page/{n}/", n >= 2.
func (b *Blog) listPage(r *http.Request) (*httpserve.Page, error) {
	st, now := b.state.Load(), b.now()
	n, err := strconv.Atoi(r.PathValue("n"))
	if tag, ok := b.subdomainTag(r, st, now); err != nil || n < 2 || tag != "" || !ok {
		return b.notFound(st, now)
	}
	return b.renderList(st, now, n)
}

// renderList renders page n of the published posts.
func (b *Blog) renderList(st *state, now time.Time, n int) (*httpserve.Page, error) {
	posts := published(st.content.posts, now)
	start := (n - 1) * perPage
	if start >= len(posts) && n > 1 {
		return b.notFound(st, now)
	}
	end := min(start+perPage, len(posts))
	d := &pageData{Posts: posts[start:end], Feed: "/feed.xml"}
	if n == 2 {
		d.Prev = "/"
	} else if n > 2 {
		d.Prev = "/page/" + strconv.Itoa(n-1) + "/"
	}
	if end < len(posts) {
		d.Next = "/page/" + strconv.Itoa(n+1) + "/"
	}
	return b.render(st, now, http.StatusOK, "index.html", d)
}

// postPage is "/posts/{slug}/".
func (b *Blog) postPage(r *http.Request) (*httpserve.Page, error) {
	st, now := b.state.Load(), b.now()
	p := st.content.post(r.PathValue("slug"), now)
	if _, ok := b.subdomainTag(r, st, now); p == nil || !ok {
		return b.notFound(st, now)
	}
	body, err := renderBody(p)
	if err != nil {
		return nil, err
	}
	return b.render(st, now, http.StatusOK, "post.html", &pageData{Title: p.Title, Post: p, Body: body, Feed: "/feed.xml"})
}

// tagPage is "/tags/{tag}/".
func (b *Blog) tagPage(r *http.Request) (*httpserve.Page, error) {
	st, now := b.state.Load(), b.now()
	tag := r.PathValue("tag")
	if _, ok := b.subdomainTag(r, st, now); !ok || st.content.tagPosts(tag, now) == nil {
		return b.notFound(st, now)
	}
	return b.renderTag(st, now, tag)
}

// renderTag renders the list of a tag's published posts, and nothing else.
func (b *Blog) renderTag(st *state, now time.Time, tag string) (*httpserve.Page, error) {
	d := &pageData{Title: tag, Tag: tag, Posts: st.content.tagPosts(tag, now),
		Feed: "/tags/" + url.PathEscape(tag) + "/feed.xml"}
	return b.render(st, now, http.StatusOK, "tag.html", d)
}
