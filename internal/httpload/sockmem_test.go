package httpload

import (
	"net"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSocketMemory(t *testing.T) {
	out := "0      0      127.0.0.1:8080 127.0.0.1:5000\n\t skmem:(r0,rb131072,t0,tb2626560,f4096,w0,o0,bl0,d0)\n" +
		"0      512    127.0.0.1:5000 127.0.0.1:8080\n\t skmem:(r1280,rb131072,t0,tb2626560,f2816,w512,o0,bl0,d3)\n"
	m, err := parseSocketMemory([]byte(out))
	require.NoError(t, err)
	assert.Equal(t, SocketMemory{Sockets: 2, Bytes: 4096 + 1280 + 2816 + 512}, m)

	_, err = parseSocketMemory([]byte("\t skmem:(r0,rb131072"))
	assert.Error(t, err)
	_, err = parseSocketMemory([]byte("\t skmem:(rx,w0)"))
	assert.Error(t, err)
}

// TestPortSocketMemory counts both ends of a loopback connection.
func TestPortSocketMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ss is Linux's")
	}
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss (iproute2)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	s, err := ln.Accept()
	require.NoError(t, err)
	defer s.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	m := PortSocketMemory(t, port)
	assert.Equal(t, 2, m.Sockets)
	assert.Equal(t, 1, SocketMemoryIn(t, nil, port, ServerEnd).Sockets, "the server's end")
	assert.Equal(t, 1, SocketMemoryIn(t, nil, port, ClientEnd).Sockets, "the client's end")
}
