package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unikit/unikit/kv/etcdkv/etcdtest"
)

// BenchmarkUpload measures uploads per second and MB/s into the embedded store (bbolt, an
// fsync per upload), through the appliance's own stack (-net user) and, in the same run, the
// same handler on plain net/http with the host's sockets, with 8 clients at once:
//
//	go test -run '^$' -bench Upload -benchtime 3s ./examples/queue/
func BenchmarkUpload(b *testing.B) {
	defer quiet()()
	for _, size := range []int{1 << 10, 5 << 20} {
		data := body(1, size)
		for _, server := range []string{"appliance", "net-http"} {
			b.Run(fmt.Sprintf("%s/%dKiB", server, size>>10), func(b *testing.B) {
				var url string
				if server == "appliance" {
					url = startInProcess(b, "-data", b.TempDir(), "-listen", "127.0.0.1:0")
				} else {
					_, url = newTestQueue(b, defaultMaxUpload)
				}
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
				b.SetBytes(int64(size))
				b.SetParallelism(4) // 4 clients per GOMAXPROCS: 8 on two cores
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, err := client.Post(url+"/uploads", "application/octet-stream", bytes.NewReader(data))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusCreated {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "uploads/s")
			})
		}
	}
}

// BenchmarkClaimLatency measures the latency of POST /claims (claim, then done) with 16
// workers at once, on the embedded store and on a one-member etcd cluster on loopback:
//
//	go test -run '^$' -bench ClaimLatency -benchtime 400x ./examples/queue/
func BenchmarkClaimLatency(b *testing.B) {
	defer quiet()()
	for _, store := range []string{"bolt", "etcd"} {
		b.Run(store, func(b *testing.B) {
			var url string
			if store == "bolt" {
				_, url = newTestQueue(b, defaultMaxUpload)
			} else {
				c := etcdtest.Start(b, 1)
				url = startInProcess(b, "-etcd", c.Endpoints()[0], "-listen", "127.0.0.1:0", "-net", "kernel")
			}
			for i := range b.N {
				postUpload(b, url, "", body(i, 1024))
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			var mu sync.Mutex
			var lat []time.Duration
			next := make(chan struct{}, b.N)
			for range b.N {
				next <- struct{}{}
			}
			close(next)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range next {
						t0 := time.Now()
						resp, err := client.Post(url+"/claims?lease=10m", "", nil)
						if err != nil {
							b.Error(err)
							return
						}
						var c claimResp
						json.NewDecoder(resp.Body).Decode(&c)
						resp.Body.Close()
						d := time.Since(t0)
						if resp.StatusCode != http.StatusOK {
							b.Errorf("claim: %d", resp.StatusCode)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
						resp, err = client.Post(url+"/claims/"+c.Token+"/done", "", nil)
						if err == nil {
							resp.Body.Close()
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}

// quiet silences the appliances' logs for the benchmark's output; call the result to restore.
func quiet() func() {
	old := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	return func() { slog.SetDefault(old) }
}
