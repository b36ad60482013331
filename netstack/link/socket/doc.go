// Package socket is the hosted [link.Link] that speaks the QEMU stream protocol: every
// Ethernet frame travels as a 4-byte big-endian length N followed by the N bytes of the frame
// (destination MAC first, no FCS, no virtio-net header), back to back over a UNIX or TCP
// stream socket, in both directions. This is the format of QEMU's `-netdev stream` and the TCP
// modes of `-netdev socket`, of passt, and of gvisor-tap-vsock's "qemu" transport.
//
// Three constructors cover the `socket:PATH` and `socket-listen:PATH` values of the hosted
// `-net` flag:
//
//   - [Dial] connects to a listening peer (passt's socket, QEMU with server=on). The link is up
//     while the connection lasts and goes down for good when the peer disconnects.
//   - [Listen] (or [NewServer] over an existing listener) waits for a peer (QEMU with
//     server=off). Like QEMU it serves one peer at a time: the link is down until a peer
//     connects, goes down when it disconnects and up again when the next one is accepted.
//     Connections that arrive while a peer is served wait in the listen backlog.
//   - [New] runs the link over a connection the caller already has.
//
// # Framing and validation
//
// The reader fills a buffer with as many bytes as one read returns and cuts every complete
// frame out of it, so one read system call usually yields many frames, which are delivered
// as one batch. A length below 14 (shorter than an Ethernet header) is skipped and counted as
// dropped, as passt does. A length above [Config.MaxFrameLen] (65535 by default, passt's
// limit; QEMU drops the connection above 69632) is a protocol error: the link logs it,
// counts a receive error, closes that connection and reports the link down. Nothing the peer
// sends makes the link allocate more than a bounded pool of frame buffers.
//
// Transmit writes each batch as one write of back-to-back [length][frame] records built in a
// reused buffer, so a peer never sees a record split across writes except where the batch
// itself is larger than the socket buffer (passt tolerates one partial record per batch).
// Frames shorter than 14 bytes, in particular empty frames, are never sent.
//
// # Offloads
//
// The protocol carries complete frames only, so [Link.Features] is 0. The stack therefore
// never hands this link a frame with [link.FlagNeedsCsum] or a GSO type; a caller that
// does gets an error from Transmit (see [ErrOffload]) and the frame is not sent.
//
// # Buffers
//
// Received frames are copied once from the read buffer into buffers of a pool the link owns
// and are lent to the [link.Receiver] until it calls [Link.Release]. The pool is bounded;
// when every buffer is lent, the reader waits, which is the link's back-pressure towards the
// peer. In steady state neither direction allocates per frame.
package socket
