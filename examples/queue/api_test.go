package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTestQueue serves a queue on a bbolt store in a temporary directory with plain net/http.
func newTestQueue(t testing.TB, maxUpload int64) (*queue, string) {
	db, err := openBolt(t.TempDir())
	require.NoError(t, err)
	q := &queue{maxUpload: maxUpload, lease: time.Minute, maxLease: time.Hour}
	require.NoError(t, q.start(t.Context(), db, 0))
	srv := httptest.NewServer(q.handler())
	t.Cleanup(func() { srv.Close(); q.close() })
	return q, srv.URL
}

// body returns the deterministic body number i of n bytes.
func body(i, n int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), uint64(n)))
	b := make([]byte, n)
	for j := 0; j < n; j += 8 {
		v := r.Uint64()
		for k := 0; k < 8 && j+k < n; k++ {
			b[j+k] = byte(v >> (8 * k))
		}
	}
	return b
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

type created struct {
	ID     string `json:"id"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type claimResp struct {
	ID         string    `json:"id"`
	Token      string    `json:"token"`
	LeaseUntil time.Time `json:"lease_until"`
}

func do(t testing.TB, method, url string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func postUpload(t testing.TB, url, name string, b []byte) created {
	t.Helper()
	resp, out := do(t, "POST", url+"/uploads?name="+name, bytes.NewReader(b))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", out)
	var c created
	require.NoError(t, json.Unmarshal(out, &c))
	require.Equal(t, "/uploads/"+c.ID, resp.Header.Get("Location"))
	return c
}

func list(t testing.TB, url string) []upload {
	t.Helper()
	resp, out := do(t, "GET", url+"/uploads", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var l []upload
	require.NoError(t, json.Unmarshal(out, &l))
	return l
}

func TestAPI(t *testing.T) {
	_, url := newTestQueue(t, 6<<20)
	small, big := body(1, 1000), body(2, 5<<20)
	c1 := postUpload(t, url, "small.txt", small)
	require.Equal(t, created{c1.ID, 1000, hexSHA(small)}, c1)
	// The 5 MiB body streamed with chunked encoding (no Content-Length).
	resp, out := do(t, "POST", url+"/uploads?name=big.bin", io.MultiReader(bytes.NewReader(big[:1<<20]), bytes.NewReader(big[1<<20:])))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", out)
	var c2 created
	require.NoError(t, json.Unmarshal(out, &c2))
	require.Equal(t, hexSHA(big), c2.SHA256)

	l := list(t, url)
	require.Len(t, l, 2)
	require.Equal(t, []string{c1.ID, c2.ID}, []string{l[0].ID, l[1].ID}, "upload order")
	require.Equal(t, "big.bin", l[1].Name)
	require.EqualValues(t, 5<<20, l[1].Size)
	require.WithinDuration(t, time.Now(), l[1].Created, time.Minute)

	resp, out = do(t, "GET", url+"/uploads/"+c2.ID, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, bytes.Equal(big, out))
	etag := resp.Header.Get("ETag")
	require.Equal(t, `"`+c2.SHA256+`"`, etag)

	// Conditional requests and ranges, as for files.
	req, _ := http.NewRequest("GET", url+"/uploads/"+c2.ID, nil)
	req.Header.Set("If-None-Match", etag)
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	require.Equal(t, http.StatusNotModified, r2.StatusCode)
	req, _ = http.NewRequest("GET", url+"/uploads/"+c2.ID, nil)
	req.Header.Set("Range", "bytes=1048570-1048589") // across a chunk boundary
	r3, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	part, _ := io.ReadAll(r3.Body)
	r3.Body.Close()
	require.Equal(t, http.StatusPartialContent, r3.StatusCode)
	require.Equal(t, big[1048570:1048590], part)
	req, _ = http.NewRequest("GET", url+"/uploads/"+c2.ID, nil)
	req.Header.Set("Range", "bytes=0-9")
	req.Header.Set("If-Range", `"stale"`)
	r4, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r4.Body.Close()
	require.Equal(t, http.StatusOK, r4.StatusCode, "If-Range with another ETag: the whole")
	req, _ = http.NewRequest("GET", url+"/uploads/"+c2.ID, nil)
	req.Header.Set("If-Match", `"other"`)
	r5, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r5.Body.Close()
	require.Equal(t, http.StatusPreconditionFailed, r5.StatusCode)

	// 413 above -max-upload, with and without a Content-Length, and nothing stored.
	resp, _ = do(t, "POST", url+"/uploads", bytes.NewReader(make([]byte, 6<<20+1)))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	resp, _ = do(t, "POST", url+"/uploads", io.LimitReader(zeros{}, 7<<20))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Len(t, list(t, url), 2)

	// DELETE: 204, then 404.
	resp, _ = do(t, "DELETE", url+"/uploads/"+c1.ID, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = do(t, "GET", url+"/uploads/"+c1.ID, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = do(t, "DELETE", url+"/uploads/"+c1.ID, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = do(t, "GET", url+"/uploads/..%2fclaims", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// zeros is an endless reader of zero bytes: a body with no Content-Length.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func claim(t testing.TB, url, lease string) (claimResp, int) {
	t.Helper()
	resp, out := do(t, "POST", url+"/claims?lease="+lease, nil)
	var c claimResp
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(out, &c))
	}
	return c, resp.StatusCode
}

func TestClaims(t *testing.T) {
	_, url := newTestQueue(t, 1<<20)
	a := postUpload(t, url, "a", []byte("a"))
	b := postUpload(t, url, "b", []byte("b"))

	ca, code := claim(t, url, "1m")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, a.ID, ca.ID, "the oldest first")
	require.WithinDuration(t, time.Now().Add(time.Minute), ca.LeaseUntil, 10*time.Second)
	cb, code := claim(t, url, "150ms")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, b.ID, cb.ID)
	_, code = claim(t, url, "1m")
	require.Equal(t, http.StatusNoContent, code, "nothing waiting")

	resp, _ := do(t, "POST", url+"/claims/"+ca.Token+"/done", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = do(t, "GET", url+"/uploads/"+a.ID, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "done removes the upload")
	resp, _ = do(t, "POST", url+"/claims/"+ca.Token+"/done", nil)
	require.Equal(t, http.StatusGone, resp.StatusCode)

	// b's lease expires: done is refused, and b can be claimed again.
	time.Sleep(300 * time.Millisecond)
	resp, _ = do(t, "POST", url+"/claims/"+cb.Token+"/done", nil)
	require.Equal(t, http.StatusGone, resp.StatusCode)
	cb2, code := claim(t, url, "1m")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, b.ID, cb2.ID)
	require.NotEqual(t, cb.Token, cb2.Token)

	resp, _ = do(t, "POST", url+"/claims?lease=forever", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = do(t, "POST", url+"/claims/nonsense/done", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// work runs workers that claim and finish uploads until none is waiting, and returns how
// often each upload was claimed.
func work(t testing.TB, urls []string, workers int) map[string]int {
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		url := urls[w%len(urls)]
		wg.Go(func() {
			for idle := 0; idle < 3; {
				resp, out, _ := doRetry(t, "POST", url+"/claims?lease=10m")
				if resp == http.StatusNoContent {
					idle++
					time.Sleep(50 * time.Millisecond)
					continue
				}
				var c claimResp
				if !assert.NoError(t, json.Unmarshal(out, &c)) {
					return
				}
				mu.Lock()
				claimed[c.ID]++
				mu.Unlock()
				code, _, retried := doRetry(t, "POST", url+"/claims/"+c.Token+"/done")
				if retried && code == http.StatusGone {
					continue // the failed attempt was committed, its answer lost: done already
				}
				assert.Equal(t, http.StatusNoContent, code)
			}
		})
	}
	wg.Wait()
	return claimed
}

// doRetry sends a request without a body, retrying while the store fails (500), as a worker
// does while an etcd member is down; it reports whether it retried.
func doRetry(t testing.TB, method, url string) (code int, body []byte, retried bool) {
	for i := range 100 {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError {
				return resp.StatusCode, b, i > 0
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s %s kept failing", method, url)
	return 0, nil, true
}

func TestConcurrentClaimsExactlyOnce(t *testing.T) {
	_, url := newTestQueue(t, 1<<20)
	ids := map[string]bool{}
	for i := range 100 {
		ids[postUpload(t, url, fmt.Sprint(i), body(i, 100)).ID] = true
	}
	claimed := work(t, []string{url}, 16)
	require.Len(t, claimed, len(ids))
	for id, n := range claimed {
		require.True(t, ids[id])
		require.Equal(t, 1, n, "%s claimed %d times", id, n)
	}
	require.Empty(t, list(t, url))
}

func TestNameIsNotAPath(t *testing.T) {
	_, url := newTestQueue(t, 1<<20)
	c := postUpload(t, url, "a%2F..%2F..%2Fetc", []byte("x"))
	resp, _ := do(t, "GET", url+"/uploads/"+c.ID, nil)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;"))
}
