// Package netflag is the hosted -net flag every example shares: one set of command-line
// flags that says which network the example's TCP/IP stack attaches to, and one call that
// opens it and hands back a listener for the example's service port.
//
//	-net user              embedded user-mode network in the same process (default): DHCP,
//	                       DNS forwarding, and -listen forwarded to the service port
//	-net tap:NAME          a Linux TAP device with offloads (root or CAP_NET_ADMIN)
//	-net socket:PATH       QEMU stream protocol: connect to the UNIX socket of passt,
//	                       QEMU -netdev stream,server=on or gvisor-tap-vsock
//	-net socket-listen:PATH   the same, listening at PATH for QEMU to connect
//	-net kernel            the host's own sockets, no userspace stack, for comparison
//	-listen HOST:PORT      host address forwarded to the service port with -net user, or
//	                       listened on with -net kernel (default 127.0.0.1:8080)
//	-ip CIDR               static address of the stack instead of DHCP (with -net user, the
//	                       guest address; the gateway and DNS forwarder keep .2 and .3)
//	-gw ADDR               default gateway with -ip
//	-pcap FILE             write every frame of the stack's link to FILE (pcap format)
//
// user,nic=virtio and user,nic=xen put a NIC driver between the stack and the user-mode
// network, against its in-process device model: the virtio-net driver over virtqueues
// (virtio/virtiotest), or the Xen netfront driver over grant tables, event channels and
// shared rings with a simulated netback (xenfront/xentest). The stack then talks to the
// driver exactly as on KVM or Xen. vhost-user:PATH runs the virtio driver as a vhost-user
// frontend against a backend listening at PATH (DPDK's net_vhost, for example); such a
// backend has no DHCP server, so give -ip.
//
// Typical use:
//
//	fs := flag.NewFlagSet("hello", flag.ExitOnError)
//	nf := netflag.Register(fs)
//	fs.Parse(os.Args[1:])
//	n, err := nf.Open(ctx, 80)
//	...
//	defer n.Close()
//	ln, err := n.Listen()
//	fmt.Printf("serving on http://%s (-net %s)\n", n.Addr(), n.Mode())
//	http.Serve(ln, handler)
package appliance
