// Package netstack is unikit's userspace TCP/IP stack: gVisor's pkg/tcpip behind the standard
// library's socket shapes, over NICs that implement the [link.Link] frame contract.
//
// A program builds a [Stack], adds one NIC per [link.Link] — a virtio or xenfront driver on a
// hypervisor, or a hosted link (netstack/link/tap, netstack/link/socket, netstack/link/pipe,
// netstack/usernet) on Linux — and then listens and dials as with package net:
//
//	s, _ := netstack.New(nil)
//	nic, _ := s.AddNIC(link, nil) // DHCPv4 and SLAAC
//	nic.WaitConfigured(ctx)
//	ln, _ := s.Listen("tcp", ":80") // a net.Listener
//	http.Serve(ln, handler)
//
// [Stack.Listen] returns a net.Listener, [Stack.Dial] a net.Conn, [Stack.ListenPacket] a
// net.PacketConn, and [Stack.Resolver] a *net.Resolver whose queries travel through the stack.
//
// Frames cross the Link contract once in each direction: the adapter copies each received frame
// into gVisor's pooled buffers (gVisor cannot hold foreign memory) and gives the link's buffer
// straight back; transmitted packets reach the link as scatter lists of gVisor's buffers, with
// TSO and checksum-offload metadata when the link supports them.
//
// # Connections
//
// The connections are the stack's own, on gVisor's endpoints: [TCPListener], [TCPConn] and
// [UDPConn], the counterparts of package net's types, with deadlines, half-close
// ([TCPConn.CloseWrite]) and a gathered write ([TCPConn.WriteBuffers]) that sends a list of
// buffers, such as a response's head and body, as one segment without copying them together.
// Their Reads and Writes allocate nothing in steady state, and a deadline costs a timer per
// direction armed only when it is set.
//
// Their errors have the shapes package net gives its own, so code written against kernel
// sockets handles them unchanged:
//
//   - every error of a connection's or listener's method is a *net.OpError whose Op is package
//     net's name for the operation ("dial", "listen", "accept", "read", "write", "close"), with
//     Net, Source (the local address) and Addr (the remote one, or the listener's) set as
//     package net sets them;
//   - an endpoint's error is wrapped as a kernel's is, in an *os.SyscallError naming the call
//     ("connect", "bind", "read", ...) around the syscall.Errno Linux returns for the same
//     condition, so that errors.Is(err, syscall.ECONNREFUSED) (or ECONNRESET, EADDRINUSE,
//     ETIMEDOUT, EHOSTUNREACH, ...) works and messages read "connect: connection refused";
//   - a connection used after Close gives net.ErrClosed, a passed deadline
//     os.ErrDeadlineExceeded (a net.Error whose Timeout is true), and the end of the peer's
//     data io.EOF, unwrapped;
//   - a dial ended by its context gives the context's error as package net's Dialer does
//     ("operation was canceled", or "i/o timeout" with Timeout true), matched by errors.Is.
package netstack
