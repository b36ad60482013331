package netstack

import (
	"context"
	"net"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// dialTCP connects a new TCP endpoint to fa and waits for the handshake's outcome or the end
// of ctx, whichever comes first. When ctx ends first the endpoint is closed (the handshake
// abandoned) and the error wraps ctx's error as package net's Dialer does.
func (s *Stack) dialTCP(ctx context.Context, network string, fa tcpip.FullAddress, proto tcpip.NetworkProtocolNumber) (*TCPConn, error) {
	fail := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: tcpAddr(fa), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(contextError{err})
	}
	wq := new(waiter.Queue)
	ep, terr := s.s.NewEndpoint(tcp.ProtocolNumber, proto, wq)
	if terr != nil {
		return nil, fail(sysError("socket", terr))
	}
	// The handshake's end, success or failure, makes the endpoint writable or signals an
	// error. Register before connecting, so that the event cannot come before the wait.
	done := make(chan struct{}, 1)
	var entry waiter.Entry
	entry.Init(waiter.ChannelNotifier(done), writeEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	for {
		// The first Connect starts the handshake; each later one reports whether it is
		// still under way (ErrAlreadyConnecting), has succeeded (nil) or failed.
		switch terr := ep.Connect(fa); terr.(type) {
		case nil:
			return newTCPConn(network, wq, ep, s.budget), nil
		case *tcpip.ErrConnectStarted, *tcpip.ErrAlreadyConnecting:
		default:
			ep.Close()
			return nil, fail(sysError("connect", terr))
		}
		select {
		case <-done:
		case <-ctx.Done():
			ep.Close()
			return nil, fail(contextError{ctx.Err()})
		}
	}
}

// dialUDP connects a new UDP endpoint to fa; that only sets its peer and binds a local port.
func (s *Stack) dialUDP(network string, fa tcpip.FullAddress, proto tcpip.NetworkProtocolNumber) (*UDPConn, error) {
	fail := func(call string, terr tcpip.Error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: udpAddr(fa), Err: sysError(call, terr)}
	}
	wq := new(waiter.Queue)
	ep, terr := s.s.NewEndpoint(udp.ProtocolNumber, proto, wq)
	if terr != nil {
		return nil, fail("socket", terr)
	}
	if terr := ep.Connect(fa); terr != nil {
		ep.Close()
		return nil, fail("connect", terr)
	}
	return newUDPConn(network, wq, ep), nil
}
