package httpserve

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/peers"
)

// TestCurl uses curl as a real client: HTTP/2 over TLS (ALPN), HTTP/1.1, ranges,
// compression, conditional requests and redirects.
func TestCurl(t *testing.T) {
	curl := peers.Program(t, "curl", "curl")
	srv := New(&Config{Store: newTestStore(t), TLS: testTLSConfig(t)})
	addr := startServer(t, srv)
	base := "https://" + addr
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-sS", "-k"}, args...)...).CombinedOutput()
		require.NoError(t, err, "curl %q: %s", args, out)
		return string(out)
	}
	// HTTP/2.
	out := run("--http2", "-w", "\n%{http_version} %{response_code}", base+"/about")
	require.Equal(t, "<h1>about</h1>\n2 200", out)
	// HTTP/1.1 (the fast path over TLS).
	out = run("--http1.1", "-w", "\n%{http_version} %{response_code}", base+"/blog/first/")
	require.Equal(t, "<h1>first post</h1>\n1.1 200", out)
	for _, proto := range []string{"--http1.1", "--http2"} {
		// Range.
		out = run(proto, "-r", "10-19", base+"/big.txt")
		require.Equal(t, testSite["big.txt"][10:20], out, proto)
		// Compression: curl asks for gzip/br and decodes.
		out = run(proto, "--compressed", "-D", "-", "-o", "/dev/null", base+"/big.txt")
		require.Contains(t, strings.ToLower(out), "content-encoding: ", proto)
		body := run(proto, "--compressed", base+"/big.txt")
		require.Equal(t, testSite["big.txt"], body, proto)
		// Redirect followed.
		out = run(proto, "-L", base+"/blog")
		require.Equal(t, "<h1>blog</h1>", out, proto)
		// Conditional: curl's -z sends If-Modified-Since.
		out = run(proto, "-z", "Sat, 03 Jan 2026 00:00:00 GMT", "-w", "%{response_code}", base+"/about")
		require.Equal(t, "304", out, proto)
		// 404 page.
		out = run(proto, "-w", " %{response_code}", base+"/nope")
		require.Equal(t, "<h1>not found</h1> 404", out, proto)
	}
	// Plain HTTP/1.1 with keep-alive over several URLs on one connection.
	plain := New(&Config{Store: newTestStore(t)})
	paddr := startServer(t, plain)
	out = run("--http1.1", "-w", "%{num_connects}\n", "http://"+paddr+"/about", "http://"+paddr+"/about")
	require.Equal(t, "<h1>about</h1>1\n<h1>about</h1>0\n", out)
}
