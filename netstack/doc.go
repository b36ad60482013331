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
package netstack
