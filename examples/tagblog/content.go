package main

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// content is one loaded generation of posts, indexed. It is immutable.
type content struct {
	posts  []*Post            // newest first (then by slug)
	bySlug map[string]*Post   //
	byTag  map[string][]*Post // newest first
	// tagOfLabel maps the lower-case form of tags that are DNS labels to the tag, for tag
	// subdomains.
	tagOfLabel map[string]string
}

// newContent indexes posts.
func newContent(posts []*Post) *content {
	c := &content{bySlug: make(map[string]*Post, len(posts)), byTag: make(map[string][]*Post),
		tagOfLabel: make(map[string]string)}
	c.posts = slices.Clone(posts)
	slices.SortFunc(c.posts, func(a, b *Post) int {
		if d := b.Date.Compare(a.Date); d != 0 {
			return d
		}
		return cmp.Compare(a.Slug, b.Slug)
	})
	for _, p := range c.posts {
		c.bySlug[p.Slug] = p
		for _, t := range p.Tags {
			c.byTag[t] = append(c.byTag[t], p)
			if l := strings.ToLower(t); isLabel(l) {
				if _, dup := c.tagOfLabel[l]; !dup {
					c.tagOfLabel[l] = t
				}
			}
		}
	}
	return c
}

// isLabel reports whether s is a lower-case DNS label (letters, digits, hyphens; 1–63).
func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// published returns the posts of list (newest first) dated at or before now.
func published(list []*Post, now time.Time) []*Post {
	i, _ := slices.BinarySearchFunc(list, now, func(p *Post, t time.Time) int {
		if p.Date.After(t) {
			return -1 // still in the future: before the published ones
		}
		return 1
	})
	return list[i:]
}

// post returns the post of a slug if it is published at now.
func (c *content) post(slug string, now time.Time) *Post {
	p := c.bySlug[slug]
	if p == nil || p.Date.After(now) {
		return nil
	}
	return p
}

// tagPosts returns the published posts of a tag; nil for a tag with none (unknown, or with
// only future posts: it does not exist yet).
func (c *content) tagPosts(tag string, now time.Time) []*Post {
	l := published(c.byTag[tag], now)
	if len(l) == 0 {
		return nil
	}
	return l
}

// nextChange returns the date of the first post after now, when pages must be rendered
// again; zero if there is none.
func (c *content) nextChange(now time.Time) time.Time {
	l := c.posts
	i := len(l) - len(published(l, now))
	if i == 0 {
		return time.Time{}
	}
	return l[i-1].Date
}
