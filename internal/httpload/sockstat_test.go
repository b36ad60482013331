package httpload

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTCPSockstat(t *testing.T) {
	st, err := parseTCPSockstat([]byte("sockets: used 15\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 216\nUDP: inuse 0 mem 0\n"))
	require.NoError(t, err)
	assert.Equal(t, TCPSockstat{InUse: 5, MemBytes: 216 * 4096}, st)

	_, err = parseTCPSockstat([]byte("sockets: used 15\nUDP: inuse 0 mem 0\n"))
	assert.Error(t, err, "no TCP line")
	_, err = parseTCPSockstat([]byte("TCP: inuse 5 orphan 0\n"))
	assert.Error(t, err, "no mem")
	_, err = parseTCPSockstat([]byte("TCP: inuse x mem 1\n"))
	assert.Error(t, err, "not a number")
}

func TestReadTCPSockstat(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/net/sockstat is Linux's")
	}
	_, err := ReadTCPSockstat()
	require.NoError(t, err)
}
