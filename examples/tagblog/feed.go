package main

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"time"

	"github.com/unikit/unikit/httpserve"
)

// feedSize is the number of entries of a feed.
const feedSize = 20

// atomFeed is an Atom feed document (RFC 4287 §4.1.1); encoding/xml escapes every value.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// atomEntry is one entry (RFC 4287 §4.1.2).
type atomEntry struct {
	Title      string         `xml:"title"`
	ID         string         `xml:"id"`
	Updated    string         `xml:"updated"`
	Published  string         `xml:"published"`
	Links      []atomLink     `xml:"link"`
	Categories []atomCategory `xml:"category"`
	Content    atomText       `xml:"content"`
}

// siteFeed is "/feed.xml": the newest posts, or on a tag's subdomain that tag's.
func (b *Blog) siteFeed(r *http.Request) (*httpserve.Page, error) {
	st, now := b.state.Load(), b.now()
	tag, ok := b.subdomainTag(r, st, now)
	switch {
	case !ok:
		return b.notFound(st, now)
	case tag != "":
		return b.feed(st, now, tag, st.content.tagPosts(tag, now))
	}
	return b.feed(st, now, "", published(st.content.posts, now))
}

// tagFeed is "/tags/{tag}/feed.xml".
func (b *Blog) tagFeed(r *http.Request) (*httpserve.Page, error) {
	st, now := b.state.Load(), b.now()
	tag := r.PathValue("tag")
	posts := st.content.tagPosts(tag, now)
	if _, ok := b.subdomainTag(r, st, now); !ok || posts == nil {
		return b.notFound(st, now)
	}
	return b.feed(st, now, tag, posts)
}

// feed renders the Atom feed of posts (newest first), with links on the configured domain.
func (b *Blog) feed(st *state, now time.Time, tag string, posts []*Post) (*httpserve.Page, error) {
	base := "http://" + b.domain
	self, alt, title := "/feed.xml", "/", b.domain
	if tag != "" {
		self = "/tags/" + url.PathEscape(tag) + "/feed.xml"
		alt = "/tags/" + url.PathEscape(tag) + "/"
		title = b.domain + ": " + tag
	}
	f := atomFeed{
		Title:  title,
		ID:     "tag:" + b.domain + ",2025:" + self,
		Author: atomPerson{Name: b.domain},
		Links: []atomLink{{Rel: "self", Type: "application/atom+xml", Href: base + self},
			{Rel: "alternate", Type: "text/html", Href: base + alt}},
		Updated: time.Unix(0, 0).UTC().Format(time.RFC3339),
	}
	if len(posts) > 0 {
		f.Updated = posts[0].Date.Format(time.RFC3339)
	}
	for _, p := range posts[:min(feedSize, len(posts))] {
		body, err := renderBody(p)
		if err != nil {
			return nil, err
		}
		e := atomEntry{
			Title:     p.Title,
			ID:        "tag:" + b.domain + "," + p.Date.Format("2006-01-02") + ":/posts/" + url.PathEscape(p.Slug) + "/",
			Updated:   p.Date.Format(time.RFC3339),
			Published: p.Date.Format(time.RFC3339),
			Links:     []atomLink{{Rel: "alternate", Type: "text/html", Href: base + "/posts/" + url.PathEscape(p.Slug) + "/"}},
			Content:   atomText{Type: "html", Body: string(body)},
		}
		for _, t := range p.Tags {
			e.Categories = append(e.Categories, atomCategory{Term: t})
		}
		f.Entries = append(f.Entries, e)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", " ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return &httpserve.Page{Body: buf.Bytes(), ContentType: "application/atom+xml; charset=utf-8",
		Expires: st.content.nextChange(now)}, nil
}
