// Package link is the frame contract between a NIC and the stack: the [Link] interface every
// driver and hosted link implements, the [Receiver] it delivers to, [Frame] with its
// virtio_net_hdr [Offload] metadata, [Features], [Stats] and [Counters], and the sentinel
// errors every link returns.
//
// It also holds what links share beyond the interface: the virtio_net_hdr codec
// ([ParseVirtioNetHdr], [PutVirtioNetHdr]), checksum completion ([CompleteChecksum],
// [Checksum]), a locator for Ethernet, IP and transport headers ([LocateHeaders]) and
// [RandomMAC].
//
// The package imports only the standard library: the virtio and xenfront drivers and the
// hosted links under this directory import it and never gVisor. The stack's adapter from a
// Link to gVisor lives in package netstack; the conformance suite every link passes is
// package linktest.
package link
