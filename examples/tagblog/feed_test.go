package main

import (
	"encoding/xml"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/apptest"
)

// parsedFeed is an Atom document as a reader parses it, independently of atomFeed.
type parsedFeed struct {
	XMLName xml.Name
	ID      string `xml:"id"`
	Title   string `xml:"title"`
	Updated string `xml:"updated"`
	Authors []struct {
		Name string `xml:"name"`
	} `xml:"author"`
	Links []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Content *struct {
			Type string `xml:"type,attr"`
		} `xml:"content"`
	} `xml:"entry"`
}

// TestAtomFeeds parses the site's and a tag's feeds and checks the elements RFC 4287
// requires: feed id, title, updated (RFC 3339), an author, a self link; at most 20 entries,
// newest first, each with id, title, updated and an alternate link on -domain.
func TestAtomFeeds(t *testing.T) {
	dir := t.TempDir()
	for i := range 25 {
		tags := []string{"all"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		writePost(t, dir, fmt.Sprintf("post-%02d", i), fmt.Sprintf("Post %02d", i),
			time.Date(2025, 1, 1+i, 12, 0, 0, 0, time.FixedZone("", 3600)).Format(time.RFC3339), tags, "body")
	}
	ts := startSite(t, options{posts: dir, domain: "blog.example"})
	for path, want := range map[string]int{"/feed.xml": 20, "/tags/even/feed.xml": 13, "/tags/all/feed.xml": 20} {
		resp, body := ts.get(t, "evil.example", path)
		require.Equal(t, 200, resp.StatusCode, path)
		require.NotContains(t, body, "evil.example", "links use -domain, never Host")
		var f parsedFeed
		require.NoError(t, xml.Unmarshal([]byte(body), &f), path)
		require.Equal(t, "http://www.w3.org/2005/Atom", f.XMLName.Space)
		require.Equal(t, "feed", f.XMLName.Local)
		require.NotEmpty(t, f.ID)
		require.NotEmpty(t, f.Title)
		_, err := time.Parse(time.RFC3339, f.Updated)
		require.NoError(t, err, "feed updated")
		require.NotEmpty(t, f.Authors)
		require.NotEmpty(t, f.Authors[0].Name)
		self := ""
		for _, l := range f.Links {
			if l.Rel == "self" {
				self = l.Href
			}
		}
		require.Equal(t, "http://blog.example"+path, self)
		require.Len(t, f.Entries, want, path)
		ids := map[string]bool{}
		var prev time.Time
		for i, e := range f.Entries {
			require.NotEmpty(t, e.Title)
			require.NotEmpty(t, e.ID)
			require.False(t, ids[e.ID], "unique ids")
			ids[e.ID] = true
			up, err := time.Parse(time.RFC3339, e.Updated)
			require.NoError(t, err)
			if i > 0 {
				require.True(t, up.Before(prev), "newest first")
			} else {
				require.Equal(t, f.Updated, e.Updated, "the feed is as new as its newest entry")
			}
			prev = up
			require.Len(t, e.Links, 1)
			require.Equal(t, "alternate", e.Links[0].Rel)
			require.True(t, strings.HasPrefix(e.Links[0].Href, "http://blog.example/posts/post-"), e.Links[0].Href)
			require.NotNil(t, e.Content)
			require.Equal(t, "html", e.Content.Type)
		}
	}
}

// TestSIGHUPReload runs the appliance, adds a post, sends SIGHUP, and checks that the post
// appears while requests keep succeeding.
func TestSIGHUPReload(t *testing.T) {
	bin := apptest.Build(t)
	dir := t.TempDir()
	writePost(t, dir, "first", "First post", "2025-01-01T00:00:00Z", nil, "one")
	cmd := exec.Command(bin, "-posts", dir, "-listen", "127.0.0.1:0")
	url := apptest.Start(t, cmd)
	ts := &testSite{base: url}
	_, body := ts.get(t, "", "/")
	require.Contains(t, body, "First post")

	writePost(t, dir, "second", "Second post", "2025-02-01T00:00:00Z", nil, "two")
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		resp, body := ts.get(t, "", "/")
		require.Equal(t, 200, resp.StatusCode, "no request fails during a reload")
		return strings.Contains(body, "Second post")
	}, 10*time.Second, 20*time.Millisecond)
	resp, _ := ts.get(t, "", "/posts/second/")
	require.Equal(t, 200, resp.StatusCode)
	apptest.Interrupt(t, cmd)
}
