package httpload

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseH2 checks the h2load output parser on h2load 1.52's report.
func TestParseH2(t *testing.T) {
	out := `starting benchmark...
spawning thread #0: 50 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for each client.
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 2.00s, 87773.50 req/s, 353.55MB/s
requests: 175547 total, 176047 started, 175547 done, 175547 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 175560 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 707.10MB (741448402) total, 18.35MB (19245477) headers (space savings 38.76%), 685.73MB (719040512) data
                     min         max         mean         sd        +/- sd
time for request:       56us     35.86ms      5.60ms      2.51ms    85.93%
time for connect:        0us         0us         0us         0us     0.00%
`
	r, err := ParseH2(out)
	require.NoError(t, err)
	require.Equal(t, 87773.5, r.ReqPerSec)
	require.Equal(t, int64(175547), r.Requests)
	require.Equal(t, 719040512.0, r.ReadBytes)
	require.Equal(t, 5600*time.Microsecond, r.Mean)
	require.Empty(t, r.Errors)

	r, err = ParseH2(strings.NewReplacer("0 failed, 0 errored, 0 timeout", "3 failed, 1 errored, 2 timeout",
		"0 4xx", "7 4xx").Replace(out))
	require.NoError(t, err)
	require.Equal(t, "3 failed, 1 errored; status codes 0 3xx, 7 4xx, 0 5xx", r.Errors)
	require.Equal(t, int64(2), r.Timeouts)

	_, err = ParseH2("connect to 127.0.0.1:80 failed\n")
	require.Error(t, err)
}
