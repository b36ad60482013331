// Package appliance is the skeleton every unikit appliance shares: the -net flag family, opening
// the network it names, serving one or more ports of the appliance's own TCP/IP stack with an
// http.Handler (or a server) each, reloading on SIGHUP and shutting down gracefully on SIGINT
// or SIGTERM. It sits above the stack and the drivers and wires them together, so that the
// stack's packages import no driver: the mapping from -net values to drivers is the table
// [DefaultNets], which an application may extend or trim ([Config].Nets).
//
// # Flags
//
//	-net user              embedded user-mode network in the same process (default hosted): DHCP,
//	                       DNS forwarding, and -listen forwarded to the served ports
//	-net user,nic=virtio   the same with the virtio-net driver between the stack and the
//	                       network, against its in-process device model (virtio/virtiotest)
//	-net user,nic=xen      the same with Xen's netfront driver, against a simulated hypervisor
//	                       and netback (xenfront/xentest)
//	-net tap:NAME          a Linux TAP device with offloads (root or CAP_NET_ADMIN, or a
//	                       persistent device this user owns); the device must exist
//	-net tap:NAME,create   the same, creating the device if it does not exist: it then has
//	                       nothing behind it (no DHCP server, no address on the host's side)
//	                       until it is configured, and it goes away when the appliance exits
//	-net socket:PATH       QEMU stream protocol: connect to the UNIX socket of passt,
//	                       QEMU -netdev stream,server=on or gvisor-tap-vsock
//	-net socket-listen:PATH   the same, listening at PATH for QEMU to connect
//	-net vhost-user:PATH   the virtio driver as a vhost-user frontend of a backend listening at
//	                       PATH (DPDK's net_vhost, for example); such a backend has no DHCP
//	                       server, so give -ip
//	-net virtio-pci[:BDF]  inside a VM: our virtio driver on its virtio-net PCI device (the
//	                       first one, or BDF such as 0000:00:03.0) through uio (guest/virtiopci),
//	                       with DHCP; the default when the guest runtime started the appliance
//	-net xen[:vif-N]       inside a Xen domain: netfront on the domain's vif N (default 0)
//	                       through /dev/xen/gntalloc, evtchn and xenbus (xenfront/linuxdom);
//	                       the default when the guest runtime started the appliance in a Xen domain
//	-net kernel            the host's own sockets, no userspace stack, for comparison; inside a
//	                       VM, Linux's own virtio_net driver, configured by DHCP (guest/kernelnet)
//	-listen ADDRS          host addresses of the served ports with -net user or kernel
//	                       (default 127.0.0.1:8080), see below
//	-ip CIDR               static address of the stack instead of DHCP (with -net user, the
//	                       guest address; the gateway and DNS forwarder keep .2 and .3)
//	-gw ADDR               default gateway with -ip
//	-pcap FILE             write every frame of the stack's link to FILE (pcap format)
//	-tcp-buffers SIZE      what the stack's TCP send buffers may grow to together, and its
//	                       receive buffers (netstack.Config.TCPBufferBudget; default 8MiB, off
//	                       for none): what slow readers can make the appliance hold
//	-open-timeout D        how long Run waits for the network (DHCP); default 30s
//	-shutdown-timeout D    how long Run lets open requests finish on shutdown; default 5s
//	-memory-limit SIZE     the Go runtime's soft memory limit (512MiB, off or auto); auto, the
//	                       default, keeps GOMEMLIMIT if set and otherwise sets 90% of the memory
//	                       the process may use: its cgroup's limit, or the machine's memory
//	-debug-listen HOST:PORT[=STACKPORT]
//	                       the debug listener (package observe): profiles (/debug/pprof/),
//	                       execution traces and the flight recorder, /metrics, the stack's
//	                       connections and time-sequence graphs, and /debug/stats, on a port
//	                       of the stack's own (STACKPORT, else PORT, else 6060) that is never a
//	                       served one: forwarded from HOST:PORT with -net user, listened on there
//	                       with -net kernel, on the stack's address with the other kinds; off
//	                       by default
//	-debug-token TOKEN     require "Authorization: Bearer TOKEN" on the debug listener
//	-debug-flightrecorder  keep runtime/trace's flight recorder running for
//	                       /debug/flightrecorder; every trace annotation is then recorded,
//	                       which costs throughput
//
// # Serving several ports
//
// An appliance may serve several ports of its stack, for instance an API on 80 and
// net/http/pprof on 6060. With -net user every one of them is reachable from the host: the
// user-mode network forwards a host address to each. -listen is a comma-separated list of
// HOST:PORT, one per served port in the order the application serves them; HOST:PORT=STACKPORT
// names the stack port instead. A served port without an entry is forwarded from the first
// entry's host, on the same port number as on the stack (a free port if the first entry's port
// is 0). So with the API on 80 and pprof on 6060, the default -listen 127.0.0.1:8080 forwards
// 127.0.0.1:8080 to 80 and 127.0.0.1:6060 to 6060, and
//
//	-listen 127.0.0.1:9000,127.0.0.1:9001            80 on 9000, 6060 on 9001
//	-listen 127.0.0.1:8080,127.0.0.1:7070=6060       the same, naming 6060 explicitly
//	-listen 127.0.0.1:0                              free ports for both, printed by Run
//
// A stack port below 1024 then needs root on the host unless -listen maps it elsewhere. With
// -net kernel the same host addresses are listened on directly (inside a VM, every address of
// the guest, on the ports themselves); with the other kinds the ports are served on the
// stack's own address and -listen is not used.
//
// # Use
//
// [App.Run] wires everything:
//
//	fs := flag.NewFlagSet("myapp", flag.ExitOnError)
//	app := appliance.New(&appliance.Config{Flags: fs, Reload: reloadContent})
//	fs.Parse(os.Args[1:])
//	err := app.Run(context.Background(),
//		appliance.Port{Number: 80, Handler: api},
//		appliance.Port{Number: 6060, Name: "pprof", Handler: debugMux})
//
// The pieces are usable on their own: [Register] and [Flags.Parse] for the flags,
// [Flags.Open] for a [Network] to Listen and Dial on, and [Network.Serve] for the ports.
package appliance
