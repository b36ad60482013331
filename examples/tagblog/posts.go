package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/yuin/goldmark"
)

// Post is one post as stored: a JSON file whose name, without ".json", is the slug.
type Post struct {
	Slug  string    `json:"-"`
	Title string    `json:"title"`
	Date  time.Time `json:"-"`
	Tags  []string  `json:"tags"`
	Body  string    `json:"body"` // CommonMark
}

// postFile is the JSON form of a post, with its date as written.
type postFile struct {
	Title *string  `json:"title"`
	Date  *string  `json:"date"`
	Tags  []string `json:"tags"`
	Body  *string  `json:"body"`
}

// parsePost parses and checks one post file: a title, a date in RFC 3339 with its offset,
// tags (possibly none) that are not empty, and a body.
func parsePost(slug string, data []byte) (*Post, error) {
	var f postFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the post object")
	}
	switch {
	case f.Title == nil || strings.TrimSpace(*f.Title) == "":
		return nil, errors.New("no title")
	case f.Date == nil:
		return nil, errors.New("no date")
	case f.Body == nil:
		return nil, errors.New("no body")
	}
	date, err := time.Parse(time.RFC3339, *f.Date)
	if err != nil {
		return nil, fmt.Errorf("date: %w", err)
	}
	p := &Post{Slug: slug, Title: *f.Title, Date: date, Body: *f.Body}
	for _, t := range f.Tags {
		if strings.TrimSpace(t) == "" {
			return nil, errors.New("an empty tag")
		}
		if !slices.Contains(p.Tags, t) {
			p.Tags = append(p.Tags, t)
		}
	}
	return p, nil
}

// loadPosts reads every *.json file at the top of fsys as a post. A file that does not parse
// is logged with its name and skipped.
func loadPosts(fsys fs.FS, log *slog.Logger) ([]*Post, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	posts := make([]*Post, 0, len(names))
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			log.Warn("tagblog: post skipped", "file", name, "error", err)
			continue
		}
		slug := strings.TrimSuffix(path.Base(name), ".json")
		p, err := parsePost(slug, data)
		if err != nil {
			log.Warn("tagblog: post skipped", "file", name, "error", err)
			continue
		}
		posts = append(posts, p)
	}
	return posts, nil
}

// markdown renders CommonMark; raw HTML in a body is not passed through (goldmark omits it
// unless told otherwise).
var markdown = goldmark.New()

// renderBody renders a post's body to HTML.
func renderBody(p *Post) (template.HTML, error) {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(p.Body), &b); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil // goldmark escapes text and omits raw HTML
}
