package main

import (
	"strings"
	"testing"
	"time"
)

// FuzzParsePost feeds arbitrary files to the post parser: what it accepts has a title, a
// date, tags that are not empty and not repeated, and renders without raw HTML.
func FuzzParsePost(f *testing.F) {
	for _, s := range []string{
		`{"title":"t","date":"2025-01-01T00:00:00Z","tags":["a"],"body":"b"}`,
		`{"title":"t","date":"2025-01-01T00:00:00+01:00","tags":[],"body":"<script>x</script>"}`,
		`{"title":"t","date":"2025-01-01T00:00:00","tags":[],"body":"b"}`,
		`{"title":"","date":"2025-01-01T00:00:00Z","body":"b"}`,
		`{"title":"t","date":"2025-01-01T00:00:00Z","tags":["a","a",""],"body":"b"}`,
		`not json`, `{"title":"t"} {}`, `{"title":"t","extra":1}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePost("slug", data)
		if err != nil {
			return
		}
		if strings.TrimSpace(p.Title) == "" {
			t.Fatalf("accepted a post without a title: %q", data)
		}
		if _, err := time.Parse(time.RFC3339, p.Date.Format(time.RFC3339)); err != nil {
			t.Fatalf("accepted a date that does not round-trip: %q", data)
		}
		seen := map[string]bool{}
		for _, tag := range p.Tags {
			if strings.TrimSpace(tag) == "" || seen[tag] {
				t.Fatalf("tags %q from %q", p.Tags, data)
			}
			seen[tag] = true
		}
		html, err := renderBody(p)
		if err != nil {
			t.Fatalf("render %q: %v", p.Body, err)
		}
		if strings.Contains(strings.ToLower(string(html)), "<script") {
			t.Fatalf("raw HTML passed through: %q", html)
		}
	})
}
