package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/apptest"
)

// TestKill9 runs the appliance as a child process (-net user, the embedded store), streams
// uploads of various sizes into it from several clients, kills it with SIGKILL at a random
// moment, restarts it on the same data, and checks, five times over: every acknowledged
// upload is listed with its digest and its bytes; everything listed is a whole upload as sent
// (one whose 201 was lost with the process may be listed; nothing half-written is).
func TestKill9(t *testing.T) {
	bin := apptest.Build(t)
	data := t.TempDir()
	sizes := []int{1 << 10, 100 << 10, 1 << 20, 3<<20 + 17}
	sent := map[string]int{} // sha256 of every body ever sent -> size
	acked := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	seq := 0
	for round := range 5 {
		cmd := exec.Command(bin, "-data", data, "-listen", "127.0.0.1:0")
		url := apptest.Start(t, cmd)
		checkStore(t, url, acked, sent)

		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					seq++
					b := body(seq, sizes[(c+i)%len(sizes)])
					sum := sha256.Sum256(b)
					sent[hex.EncodeToString(sum[:])] = len(b)
					mu.Unlock()
					resp, err := http.Post(url+"/uploads", "application/octet-stream", bytes.NewReader(b))
					if err != nil {
						return // killed
					}
					out, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusCreated {
						return
					}
					var cr created
					assert.NoError(t, json.Unmarshal(out, &cr))
					assert.Equal(t, hex.EncodeToString(sum[:]), cr.SHA256)
					mu.Lock()
					acked[cr.ID] = cr.SHA256
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		require.NoError(t, cmd.Process.Kill())
		cmd.Wait()
		close(stop)
		wg.Wait()
		t.Logf("round %d: %d acknowledged so far", round, len(acked))
	}
	cmd := exec.Command(bin, "-data", data, "-listen", "127.0.0.1:0")
	url := apptest.Start(t, cmd)
	checkStore(t, url, acked, sent)
	apptest.Interrupt(t, cmd)
	require.NotEmpty(t, acked)
}

// checkStore checks the listing and the bytes of every upload against what was acknowledged
// and sent.
func checkStore(t *testing.T, url string, acked map[string]string, sent map[string]int) {
	t.Helper()
	listed := map[string]upload{}
	for _, u := range list(t, url) {
		listed[u.ID] = u
		size, ok := sent[u.SHA256]
		require.True(t, ok, "%s: listed but not an upload as sent (half-written?)", u.ID)
		require.EqualValues(t, size, u.Size)
		resp, b := do(t, "GET", url+"/uploads/"+u.ID, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, u.SHA256, hexSHA(b), "%s: served bytes match the digest", u.ID)
	}
	for id, sum := range acked {
		u, ok := listed[id]
		require.True(t, ok, "acknowledged upload %s lost", id)
		require.Equal(t, sum, u.SHA256)
	}
}
