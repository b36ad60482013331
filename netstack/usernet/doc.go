// Package usernet is the embedded user-mode network: a gateway with its own TCP/IP stack that
// lives in the same process as the application, in the manner of QEMU's slirp, passt and
// gvisor-tap-vsock, so that a program with its own userspace stack runs with no root, no TAP
// device and no other program.
//
// [New] builds the gateway on a [netstack.Stack] and returns a [Network]; the application
// attaches its stack to [Network.Link] like to any NIC. The two stacks are joined by an
// in-memory link pair (package netstack/link/pipe). The default addressing is QEMU slirp's:
//
//	subnet   10.0.2.0/24
//	gateway  10.0.2.2    default router, DHCP server (UDP 67)
//	DNS      10.0.2.3    DNS forwarder (UDP and TCP 53)
//	guest    10.0.2.15   the one address the DHCP server leases
//
// The gateway provides:
//
//   - a DHCPv4 server that leases the guest address with router, DNS server, subnet mask,
//     lease time and interface MTU options;
//   - DNS forwarding: queries to the DNS address (UDP, and TCP for truncated answers) are
//     relayed to the host's resolvers, from /etc/resolv.conf unless [Config.DNSUpstream]
//     names them;
//   - port forwarding: each [Forward] listens on a host address (a kernel socket, e.g.
//     127.0.0.1:8080) and relays every accepted connection to a TCP port of the guest,
//     with half-close passed through; a relayed connection idle for a moment holds no
//     goroutine and no buffer (its host socket waits on the network's own epoll instance,
//     on Linux);
//   - optionally ([Config.HostLoopback]), outbound TCP from the guest to the gateway address
//     is connected to the same port on the host's loopback, like passt's gateway mapping.
//
// There is no NAT to other destinations: packets the guest sends to addresses outside the
// gateway and DNS addresses are dropped by the gateway stack.
//
// Close ends everything the Network started: the host listeners, the relayed connections,
// the gateway stack and its goroutines.
package usernet
