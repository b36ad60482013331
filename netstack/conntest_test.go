package netstack_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// The addresses stacktest.Pair gives its two stacks.
const (
	addr1 = "10.0.0.1"
	addr2 = "10.0.0.2"
)

// stackPair is two stacks joined by a pipe link: client (10.0.0.1) and server (10.0.0.2).
// Both are closed when the test ends. clientData counts the frames with new data the client
// sends.
type stackPair struct {
	client, server         *netstack.Stack
	clientLink, serverLink *pipe.Link
	clientData             *stacktest.DataFrames
}

func newStackPair(tb testing.TB) *stackPair {
	tb.Helper()
	a, b, err := pipe.New(nil)
	require.NoError(tb, err)
	data := &stacktest.DataFrames{Link: a}
	s1, s2 := stacktest.Pair(tb, data, b)
	return &stackPair{client: s1, server: s2, clientLink: a, serverLink: b, clientData: data}
}

// conns returns a connected TCP pair: dialed from the client stack, accepted on the server
// stack. Both are closed when the test ends.
func (p *stackPair) conns(tb testing.TB) (dialed, accepted *netstack.TCPConn) {
	tb.Helper()
	ln, err := p.server.Listen("tcp4", ":0")
	require.NoError(tb, err)
	defer ln.Close()
	accepted, dialed, err = p.dialAccept(ln)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		dialed.Close()
		accepted.Close()
	})
	return dialed, accepted
}

// dialAccept dials ln's port on the server's address from the client stack and accepts.
func (p *stackPair) dialAccept(ln net.Listener) (accepted, dialed *netstack.TCPConn, err error) {
	type result struct {
		c   net.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		acc <- result{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := p.client.Dial(ctx, "tcp4", net.JoinHostPort(addr2, port(ln.Addr())))
	if err != nil {
		ln.Close()
		<-acc
		return nil, nil, err
	}
	r := <-acc
	if r.err != nil {
		d.Close()
		return nil, nil, r.err
	}
	return r.c.(*netstack.TCPConn), d.(*netstack.TCPConn), nil
}

// port returns the port of a, a *net.TCPAddr or *net.UDPAddr, as a string.
func port(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}
