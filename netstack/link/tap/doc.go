// Package tap is the Linux TAP hosted link: a [link.Link] over a TAP device opened by name
// from /dev/net/tun, with the virtio_net_hdr (IFF_VNET_HDR) in front of every frame so that
// checksum offload, TSO and large received (GRO) frames cross between the Linux kernel and the
// stack without being split or checksummed on the way.
//
// The link is the other end of the wire from the kernel's point of view: the kernel's TAP
// interface (which an administrator or a test configures with `ip`) and the stack are two
// hosts on one Ethernet segment, each with its own MAC address.
//
// # Receive
//
// One goroutine reads frames from the non-blocking file descriptor through the Go runtime's
// poller: it reads until the device has nothing more (EAGAIN) or the batch is full, then hands
// the batch to the receiver. Received frames live in a pool of buffers owned by the link
// (64 KiB plus the header each when GRO is on) and are lent to the receiver until it calls
// [Link.Release]. When every buffer is lent out, the reader waits for one to come back
// (back-pressure) instead of allocating. The kernel is a peer like any other: each frame's
// virtio_net_hdr is validated with [link.ParseVirtioNetHdr] and a frame with an invalid one
// is dropped and counted.
//
// # Transmit
//
// Transmit writes each frame with one writev call (the virtio_net_hdr, then the frame's
// segments) from a reused iovec array, so it neither copies nor allocates. A TAP device takes one
// frame per write; the kernel parses the header of every write, so GSO frames and frames with
// partial checksums are accepted whether or not receive offloads were negotiated.
//
// Opening a TAP device needs CAP_NET_ADMIN unless the device is a persistent one owned by the
// caller. The package builds everywhere; outside Linux [Open] returns an error.
package tap
