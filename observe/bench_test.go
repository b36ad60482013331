package observe_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/unikit/unikit/netstack/link/pipe"
)

// BenchmarkRequests measures requests per second for the page, over keep-alive connections
// from the client stack (one per parallel goroutine), with the debug listener off and on in
// the same run. On means what -debug-listen adds to an appliance: the ring of recent frames
// on the server's link and /metrics scraped every second; "debug=on+flightrecorder" adds the
// flight recorder (-debug-flightrecorder), with which every trace annotation is recorded.
//
//	go test ./observe -run '^$' -bench Requests -benchtime 3s -count 3
func BenchmarkRequests(b *testing.B) {
	for _, mode := range []string{"debug=off", "debug=on", "debug=on+flightrecorder"} {
		on := mode != "debug=off"
		b.Run(mode, func(b *testing.B) {
			r := buildRig(b, pipe.Impairments{}, "", on, mode == "debug=on+flightrecorder")
			if on {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() {
					tick := time.NewTicker(time.Second)
					defer tick.Stop()
					for {
						resp, err := http.Get(r.url + "/metrics")
						if err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
						select {
						case <-tick.C:
						case <-ctx.Done():
							return
						}
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				c, err := r.client.Dial(context.Background(), "tcp", "10.0.0.1:80")
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				for pb.Next() {
					if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
						b.Error(err)
						return
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
