package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/tlstest"
)

// client does not follow redirects, so that they can be checked.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// checkBlog walks the sample blog as a reader would.
func checkBlog(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, body := get(t, c, url+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Notes from a tiny appliance")
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), "from _headers")

	resp, body = get(t, c, url+"/about/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "<h1>About</h1>")

	resp, _ = get(t, c, url+"/about")
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "/about/", resp.Header.Get("Location"))

	resp, _ = get(t, c, url+"/blog/clean-urls/")
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode, "from _redirects")
	require.Equal(t, "/posts/clean-urls/", resp.Header.Get("Location"))

	resp, _ = get(t, c, url+"/css/style.c8bc7dc8.css")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Cache-Control"), "immutable", "fingerprinted asset")

	resp, body = get(t, c, url+"/feed.xml")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<feed xmlns="http://www.w3.org/2005/Atom">`)

	resp, body = get(t, c, url+"/no/such/page")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, body, "Page not found")

	resp, _ = get(t, c, url+"/_redirects")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "rule files are not served")
}

func TestBlogUserNetwork(t *testing.T) {
	bin := apptest.Build(t)
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	url := apptest.Start(t, cmd)
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	checkBlog(t, client, url)

	// Precompressed variants are negotiated (asking explicitly turns off the transport's
	// own transparent decompression).
	req, _ := http.NewRequest("GET", url+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"))
	apptest.Interrupt(t, cmd)
}

// TestBlogThroughDrivers serves the blog with the virtio and Xen drivers, against their
// device models, between the stack and the user-mode network.
func TestBlogThroughDrivers(t *testing.T) {
	bin := apptest.Build(t)
	for _, nic := range []string{"virtio", "xen"} {
		t.Run(nic, func(t *testing.T) {
			cmd := exec.Command(bin, "-net", "user,nic="+nic, "-listen", "127.0.0.1:0")
			checkBlog(t, client, apptest.Start(t, cmd))
			apptest.Interrupt(t, cmd)
		})
	}
}

func TestBlogKernel(t *testing.T) {
	bin := apptest.Build(t)
	cmd := exec.Command(bin, "-net", "kernel", "-listen", "127.0.0.1:0")
	checkBlog(t, client, apptest.Start(t, cmd))
	apptest.Interrupt(t, cmd)
}

// TestBlogSiteDirectoryAndReload serves a directory, then changes it and sends SIGHUP: the
// new content is served without a restart.
func TestBlogSiteDirectoryAndReload(t *testing.T) {
	bin := apptest.Build(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>first</p>"), 0o644))
	cmd := exec.Command(bin, "-site", dir, "-listen", "127.0.0.1:0")
	url := apptest.Start(t, cmd)
	_, body := get(t, client, url+"/")
	require.Equal(t, "<p>first</p>", body)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>second</p>"), 0o644))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		_, body := get(t, client, url+"/")
		return body == "<p>second</p>"
	}, 10*time.Second, 50*time.Millisecond)
	apptest.Interrupt(t, cmd)
}

// TestBlogTLS serves HTTPS with a certificate made for the test, over HTTP/2 and HTTP/1.1.
func TestBlogTLS(t *testing.T) {
	bin := apptest.Build(t)
	cert := tlstest.New(t)
	certFile, keyFile := cert.WritePEM(t)
	pool := cert.Pool
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", keyFile)
	url := apptest.Start(t, cmd)
	require.True(t, strings.HasPrefix(url, "https://127.0.0.1:"), url)
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		checkBlog(t, c, url)
		resp, _ := get(t, c, url+"/")
		if h2 {
			require.Equal(t, 2, resp.ProtoMajor)
		} else {
			require.Equal(t, 1, resp.ProtoMajor)
		}
		tr.CloseIdleConnections()
	}
	apptest.Interrupt(t, cmd)
}
