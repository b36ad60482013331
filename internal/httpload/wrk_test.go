package httpload

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParse checks the wrk output parser the HTTP benchmarks rely on.
func TestParse(t *testing.T) {
	out := `Running 5s test @ http://10.78.0.2/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.50ms  40.12ms   90.00%
    Req/Sec    12.34k     1.01k   14.00k    70.00%
  Latency Distribution
     50%    1.75ms
     75%    2.50ms
     90%    3.40ms
     99%  812.00us
  122880 requests in 5.00s, 500.00MB read
Requests/sec:  24576.00
Transfer/sec:    100.00MB
`
	r, err := Parse(out)
	require.NoError(t, err)
	require.Equal(t, 24576.0, r.ReqPerSec)
	require.Equal(t, int64(122880), r.Requests)
	require.Equal(t, 500.0*1024*1024, r.ReadBytes)
	require.Equal(t, 1750*time.Microsecond, r.P50)
	require.Equal(t, 812*time.Microsecond, r.P99)
	require.Equal(t, 2100*time.Microsecond, r.Mean)
	require.Empty(t, r.Errors)

	r, err = Parse(strings.Replace(out, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 12\n  Non-2xx or 3xx responses: 7\nRequests/sec", 1))
	require.NoError(t, err)
	require.Equal(t, "socket errors: connect 0, read 3, write 0; Non-2xx or 3xx responses: 7", r.Errors)
	require.Equal(t, int64(12), r.Timeouts)

	r, err = Parse(strings.Replace(out, "Requests/sec", "  Socket errors: connect 0, read 0, write 0, timeout 50\nRequests/sec", 1))
	require.NoError(t, err)
	require.Empty(t, r.Errors)
	require.Equal(t, int64(50), r.Timeouts)

	_, err = Parse("unable to connect to 10.78.0.2:80 Connection refused\n")
	require.Error(t, err)
}

// TestRunCountsClientCPU runs wrk against a local server and checks that the run carries the
// client's own CPU time: some, and no more than its threads could use in its run.
func TestRunCountsClientCPU(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(Page(1024)) }))
	defer srv.Close()
	start := time.Now()
	r, out := Run(t, Load{URL: srv.URL, Conns: 4, Duration: time.Second})
	require.Positive(t, r.ClientCPU, out)
	require.LessOrEqual(t, r.ClientCPU, time.Since(start), out) // one wrk thread
}
