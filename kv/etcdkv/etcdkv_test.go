package etcdkv_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/unikit/unikit/kv"
	"github.com/unikit/unikit/kv/etcdkv"
	"github.com/unikit/unikit/kv/etcdkv/etcdtest"
	"github.com/unikit/unikit/kv/kvtest"
)

func open(t *testing.T, eps []string, dial func(context.Context, string, string) (net.Conn, error)) *etcdkv.Engine {
	e, err := etcdkv.Open(context.Background(), &etcdkv.Config{Endpoints: eps, Dial: dial})
	require.NoError(t, err)
	return e
}

func TestConformance(t *testing.T) {
	c := etcdtest.Start(t, 1)
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		e := open(t, c.Endpoints(), nil)
		// A fresh, empty store per test: clear the cluster.
		_, err := e.Client().Delete(context.Background(), "", clientv3.WithFromKey())
		require.NoError(t, err)
		return e
	})
}

func TestDialHookCarriesTheConnections(t *testing.T) {
	c := etcdtest.Start(t, 1)
	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	e := open(t, c.Endpoints(), dial)
	defer e.Close()
	_, err := kv.NewDB(e, nil).Put(context.Background(), "x", bytes.NewReader([]byte("y")), nil)
	require.NoError(t, err)
	require.Positive(t, dials.Load())
}

// TestClusterMemberStopped runs writers and compare-and-swap claimers against a three-member
// cluster, kills one member mid-run, and checks that every acknowledged write is there and
// every key was claimed exactly once.
func TestClusterMemberStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-member cluster: not with -short")
	}
	c := etcdtest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var acked sync.Map // key -> digest
	var claims sync.Map
	var claimed atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		e := open(t, c.Endpoints(), nil)
		defer e.Close()
		db := kv.NewDB(e, &kv.DBConfig{ChunkSize: 64 << 10})
		wg.Go(func() { // writer
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w/%d/%05d", w, i)
				val := bytes.Repeat([]byte{byte(i)}, 100000)
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				rec, err := db.Put(wctx, key, bytes.NewReader(val), nil)
				wcancel()
				if err == nil {
					acked.Store(key, rec.Digest)
				}
			}
		})
		wg.Go(func() { // claimer: marks each written key claimed, with compare-and-swap
			for {
				select {
				case <-stop:
					return
				default:
				}
				recs, err := db.List(ctx, "w/")
				if err != nil {
					continue
				}
				for _, r := range recs {
					cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := db.Put(cctx, "claim/"+r.Key, bytes.NewReader([]byte{byte(w)}), &kv.PutOptions{Match: true})
					ccancel()
					if err == nil {
						_, dup := claims.LoadOrStore(r.Key, w)
						assert.False(t, dup, "%s claimed twice", r.Key)
						claimed.Add(1)
					}
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	c.Stop(0) // a member crashes mid-run (maybe the leader)
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()

	e := open(t, c.Endpoints()[1:], nil)
	defer e.Close()
	db := kv.NewDB(e, nil)
	n := 0
	acked.Range(func(k, d any) bool {
		n++
		rec, err := db.Stat(ctx, k.(string))
		require.NoError(t, err, "acknowledged %s lost", k)
		require.Equal(t, d, rec.Digest)
		return true
	})
	require.Positive(t, n)
	t.Logf("%d acknowledged writes present after a member was killed; %d claims, each once", n, claimed.Load())
}
