package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/httpload"
)

// makeSite writes files pages of size bytes each under a fresh directory, in subdirectories
// of 100 as a generator's output would be, and returns it.
func makeSite(b *testing.B, files, size int) string {
	b.Helper()
	dir := b.TempDir()
	page := make([]byte, size)
	for i := range files {
		sub := filepath.Join(dir, "posts", strconv.Itoa(i/100), strconv.Itoa(i))
		require.NoError(b, os.MkdirAll(sub, 0o755))
		rand.Read(page)
		copy(page, "<!doctype html>")
		require.NoError(b, os.WriteFile(filepath.Join(sub, "index.html"), page, 0o644))
	}
	require.NoError(b, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>home</p>"), 0o644))
	return dir
}

// BenchmarkStartToFirstResponse measures, for a 1,000-file site of 4 KiB pages, the time from
// starting the process to the first successful response through the user-mode network
// (DHCP included), loading the site from a directory and from a content image:
//
//	go test ./examples/blog -run '^$' -bench StartToFirstResponse -benchtime 10x
func BenchmarkStartToFirstResponse(b *testing.B) {
	bin := apptest.Build(b)
	dir := makeSite(b, 1000, 4096)
	image := filepath.Join(b.TempDir(), "site.kvimg")
	// The pages are random, so no precompressed variant would be smaller and the image has
	// none either way; -encodings "" only spares the 20 s kvimage spends finding that out.
	out, err := exec.Command("go", "run", "github.com/unikit/unikit/kv/cmd/kvimage", "-encodings", "", "-o", image, dir).CombinedOutput()
	require.NoError(b, err, "kvimage: %s", out)
	for _, tc := range []struct{ name, flag, path string }{{"site-dir", "-site", dir}, {"image", "-image", image}} {
		b.Run(tc.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				began := time.Now()
				cmd := exec.Command(bin, tc.flag, tc.path, "-listen", "127.0.0.1:0")
				url := apptest.Start(b, cmd)
				resp, err := http.Get(url + "/posts/9/999/")
				require.NoError(b, err)
				resp.Body.Close()
				require.Equal(b, http.StatusOK, resp.StatusCode)
				total += time.Since(began)
				cmd.Process.Kill()
				cmd.Wait()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-response")
		})
	}
}

// BenchmarkResidentMemory serves a site of 64 MiB (1,024 pages of 64 KiB), fetches every page
// once, and reports the process's resident memory against the target of 1.5 times the site's
// size plus 30 MiB:
//
//	go test ./examples/blog -run '^$' -bench ResidentMemory -benchtime 1x
func BenchmarkResidentMemory(b *testing.B) {
	bin := apptest.Build(b)
	const files, size = 1024, 64 << 10
	dir := makeSite(b, files, size)
	for range b.N {
		cmd := exec.Command(bin, "-site", dir, "-listen", "127.0.0.1:0")
		url := apptest.Start(b, cmd)
		for i := range files {
			resp, err := http.Get(fmt.Sprintf("%s/posts/%d/%d/", url, i/100, i))
			require.NoError(b, err)
			resp.Body.Close()
			require.Equal(b, http.StatusOK, resp.StatusCode)
		}
		rss := float64(httpload.RSS(b, cmd.Process.Pid))
		site := float64(files * size)
		b.ReportMetric(rss/(1<<20), "RSS-MiB")
		b.ReportMetric(site/(1<<20), "site-MiB")
		b.ReportMetric(rss/(1.5*site+30*(1<<20)), "RSS/target")
		cmd.Process.Kill()
		cmd.Wait()
	}
}
