package netstack_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
)

// udpPair returns a UDP socket listening on the server stack and a UDP connection dialed to it
// from the client stack. Both are closed when the test ends.
func udpPair(t *testing.T, p *stackPair) (server *netstack.UDPConn, client *netstack.UDPConn) {
	t.Helper()
	pc, err := p.server.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.client.Dial(ctx, "udp4", net.JoinHostPort(addr2, port(pc.LocalAddr())))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return pc.(*netstack.UDPConn), c.(*netstack.UDPConn)
}

// TestUDPConnExchange sends a datagram each way: Write on the connected end, ReadFrom and
// WriteTo on the listening end (which names the sender with a *net.UDPAddr), Read back.
func TestUDPConnExchange(t *testing.T) {
	p := newStackPair(t)
	srv, cl := udpPair(t, p)
	require.IsType(t, &net.UDPAddr{}, cl.LocalAddr())
	require.IsType(t, &net.UDPAddr{}, cl.RemoteAddr())
	assert.Nil(t, srv.RemoteAddr())

	require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := cl.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, from, err := srv.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	require.IsType(t, &net.UDPAddr{}, from)
	assert.Equal(t, cl.LocalAddr().String(), from.String())

	_, err = srv.WriteTo([]byte("pong"), from)
	require.NoError(t, err)
	require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err = cl.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(buf[:n]))
}

// TestUDPConnAddrPort exchanges datagrams through the allocation-free netip methods and
// checks that a datagram larger than the buffer is cut to it.
func TestUDPConnAddrPort(t *testing.T) {
	p := newStackPair(t)
	srv, cl := udpPair(t, p)
	require.NoError(t, srv.SetDeadline(time.Now().Add(5*time.Second)))
	require.NoError(t, cl.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := cl.Write([]byte("0123456789"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, "0123", string(buf[:n]), "cut to the buffer")
	assert.Equal(t, netip.MustParseAddrPort(cl.LocalAddr().String()), from)

	_, err = srv.WriteToUDPAddrPort([]byte("back"), from)
	require.NoError(t, err)
	n, err = cl.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "back", string(buf[:n]))
}

// TestUDPConnDeadline checks that a read past its deadline fails with os.ErrDeadlineExceeded,
// a timeout, in a *net.OpError.
func TestUDPConnDeadline(t *testing.T) {
	p := newStackPair(t)
	srv, _ := udpPair(t, p)
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, _, err := srv.ReadFrom(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)
	assert.True(t, oe.Timeout())
}

// TestUDPConnCloseUnblocks checks that Close wakes a blocked ReadFrom with net.ErrClosed.
func TestUDPConnCloseUnblocks(t *testing.T) {
	p := newStackPair(t)
	srv, _ := udpPair(t, p)
	errc := make(chan error, 1)
	go func() {
		_, _, err := srv.ReadFrom(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, srv.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrom still blocked after Close")
	}
	assert.ErrorIs(t, srv.Close(), net.ErrClosed)
}

// TestUDPConnMisuse checks package net's errors for WriteTo on a connected socket, Write on an
// unconnected one and WriteTo with an address that is not UDP.
func TestUDPConnMisuse(t *testing.T) {
	p := newStackPair(t)
	srv, cl := udpPair(t, p)
	_, err := cl.WriteTo([]byte("x"), srv.LocalAddr())
	assert.ErrorIs(t, err, net.ErrWriteToConnected)
	_, err = srv.Write([]byte("x"))
	assert.ErrorIs(t, err, syscall.EDESTADDRREQ)
	_, err = srv.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1})
	assert.ErrorIs(t, err, syscall.EINVAL)
}

// TestUDPConnRefused checks that a connected UDP socket learns from the peer's ICMP port
// unreachable that nobody listens, as ECONNREFUSED on its next read, as on Linux.
func TestUDPConnRefused(t *testing.T) {
	p := newStackPair(t)
	c, err := p.client.Dial(context.Background(), "udp4", net.JoinHostPort(addr2, "9"))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("anyone?"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}
