package gobench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	out := `goos: linux
BenchmarkStackToStack/tso-2         	     300	   1012345 ns/op	1035.80 MB/s	        15.20 Gbit/s	     120 B/op	       0 allocs/op
BenchmarkWrk 	       1	12000000000 ns/op	  48000 httpserve-req/s	 8.1 httpserve-cpu-µs/req
BenchmarkUserBulk/user,nic=virtio-2 	 512	 300000 ns/op	 873.81 MB/s
--- SKIP: BenchmarkVethBulk/iperf3
    bench_linux_test.go:12: iperf3 not found (install Debian package iperf3)
BenchmarkBroken 12 notanumber ns/op
BenchmarkUserBulk/user,nic=xen-2            	2026/11/26 15:56:54 INFO netfront: connected vif=device/vif/0
2026/11/26 15:56:54 INFO netfront: connected vif=device/vif/0
     128	    683465 ns/op	 383.55 MB/s
PASS
`
	res, skips, err := Parse(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, res, 4)
	require.Equal(t, "BenchmarkUserBulk/user,nic=xen", res[3].Name)
	require.Equal(t, int64(128), res[3].Iterations)
	require.InDelta(t, 383.55, res[3].Metrics["MB/s"], 1e-9)
	require.Equal(t, "BenchmarkStackToStack/tso", res[0].Name)
	require.Equal(t, int64(300), res[0].Iterations)
	require.InDelta(t, 15.2, res[0].Metrics["Gbit/s"], 1e-9)
	require.Zero(t, res[0].Metrics["allocs/op"])
	require.Contains(t, res[0].Metrics, "allocs/op")
	require.Equal(t, "BenchmarkWrk", res[1].Name)
	require.InDelta(t, 8.1, res[1].Metrics["httpserve-cpu-µs/req"], 1e-9)
	require.Equal(t, "BenchmarkUserBulk/user,nic=virtio", res[2].Name)
	require.Equal(t, []Skip{{"BenchmarkVethBulk/iperf3", "bench_linux_test.go:12: iperf3 not found (install Debian package iperf3)"}}, skips)
}

func TestStats(t *testing.T) {
	med, lo, hi := Stats([]float64{5, 1, 3, 4})
	require.Equal(t, 3.5, med)
	require.Equal(t, 1.0, lo)
	require.Equal(t, 5.0, hi)
	med, _, _ = Stats([]float64{2, 9, 4})
	require.Equal(t, 4.0, med)
}
