package httpload

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSlabinfo(t *testing.T) {
	in := "slabinfo - version: 2.1\n" +
		"# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n" +
		"TCP                  120    130   2368   13    8 : tunables    0    0    0 : slabdata     10     10      0\n" +
		"filp                1000   1024    192   21    1 : tunables    0    0    0 : slabdata     49     49      0\n"
	got, err := parseSlabinfo([]byte(in), nil)
	require.NoError(t, err)
	assert.Equal(t, int64(120*2368+1000*192), got)
	got, err = parseSlabinfo([]byte(in), []string{"TCP", "TCPv6"})
	require.NoError(t, err)
	assert.Equal(t, int64(120*2368), got)

	_, err = parseSlabinfo([]byte("slabinfo - version: 2.1\n"), nil)
	assert.Error(t, err, "no caches")
	_, err = parseSlabinfo([]byte("TCP x 130 2368\n"), nil)
	assert.Error(t, err)
	_, err = parseSlabinfo([]byte("TCP 120\n"), nil)
	assert.Error(t, err)
}

// TestReadSlabBytesSeesSockets opens 500 loopback connections (1,000 kernel sockets) and checks
// that the slab memory grew by at least their struct tcp_sock's share: on a busy machine other
// work moves the sum too, so only a lower bound is firm.
func TestReadSlabBytesSeesSockets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/slabinfo is Linux's")
	}
	if _, err := os.ReadFile("/proc/slabinfo"); err != nil {
		t.Skipf("/proc/slabinfo: %v (it needs root)", err)
	}
	const n = 500
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	before, err := ReadSlabBytes(SocketSlabCaches...)
	require.NoError(t, err)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		s, err := ln.Accept()
		require.NoError(t, err)
		conns = append(conns, c, s)
	}
	after, err := ReadSlabBytes(SocketSlabCaches...)
	require.NoError(t, err)
	// struct tcp_sock alone is over 2 KiB on every 64-bit kernel; a socket costs about 4.
	assert.Greater(t, after-before, int64(2*n*2048), "slab growth for %d kernel sockets", 2*n)
}
