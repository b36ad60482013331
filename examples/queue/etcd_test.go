package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/kv/etcdkv/etcdtest"
)

// startInProcess runs the appliance in this process with args and returns its URL; it is
// stopped when the test ends.
func startInProcess(t testing.TB, args ...string) string {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, pw); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the appliance did not stop")
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			for _, f := range strings.Fields(sc.Text()) {
				if strings.HasPrefix(f, "http://") {
					select {
					case urls <- f:
					default:
					}
				}
			}
		}
	}()
	select {
	case u := <-urls:
		return u
	case err := <-done:
		t.Fatalf("the appliance stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the appliance did not start serving")
	}
	return ""
}

// TestTwoAppliancesOnEtcd runs two appliances (-net user: each reaches etcd through its own
// stack and the user-mode network's mapping of the host's loopback) on a three-member etcd
// cluster. Clients upload through both while 16 workers claim and finish through both; one
// member is killed mid-run. Every acknowledged upload is claimed, each exactly once.
func TestTwoAppliancesOnEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-member etcd cluster and two appliances: not with -short")
	}
	c := etcdtest.Start(t, 3)
	eps := strings.Join(c.Endpoints(), ",")
	urls := []string{
		startInProcess(t, "-etcd", eps, "-listen", "127.0.0.1:0"),
		startInProcess(t, "-etcd", eps, "-listen", "127.0.0.1:0", "-net", "user,nic=virtio"),
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	var uploaders sync.WaitGroup
	for u := range 4 {
		uploaders.Go(func() {
			for i := range 40 {
				url := urls[(u+i)%2]
				b := body(u*1000+i, 1000+i*2000)
				resp, err := http.Post(url+"/uploads", "application/octet-stream", strings.NewReader(string(b)))
				if err != nil {
					continue
				}
				var cr created
				err = decode(resp, &cr)
				if resp.StatusCode == http.StatusCreated && assert.NoError(t, err) {
					mu.Lock()
					acked[cr.ID] = true
					mu.Unlock()
				}
			}
		})
	}
	claimedCh := make(chan map[string]int, 1)
	time.Sleep(500 * time.Millisecond)
	go func() { claimedCh <- work(t, urls, 16) }()
	time.Sleep(time.Second)
	c.Stop(0)
	uploaders.Wait()
	claimed := <-claimedCh
	// Workers stop after three empty answers in a row; claim what arrived after they stopped.
	for id, n := range work(t, urls, 16) {
		claimed[id] += n
	}
	require.NotEmpty(t, acked)
	// What is still listed had an ambiguous outcome while the member died: an upload committed
	// whose 201 was lost, or a claim committed whose answer was lost (it holds its upload until
	// the lease expires). An acknowledged upload is either claimed exactly once or still there.
	left := map[string]bool{}
	for _, u := range list(t, urls[1]) {
		left[u.ID] = true
		t.Logf("left: %s, acknowledged %v (ambiguous outcome during the crash)", u.ID, acked[u.ID])
	}
	for id := range acked {
		require.True(t, claimed[id] == 1 || claimed[id] == 0 && left[id],
			"acknowledged upload %s claimed %d times, listed %v", id, claimed[id], left[id])
	}
	for id, n := range claimed {
		require.Equal(t, 1, n, "%s claimed %d times", id, n)
	}
	t.Logf("%d acknowledged uploads, %d claimed, each once, across a member's crash", len(acked), len(claimed))
}

func decode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return json.Unmarshal(b, v)
}
