package netstack

import (
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/stack/gro"
)

// Receive coalescing: a link that hands the adapter one MTU-sized TCP segment per frame (one
// without FeatureRxGRO: QEMU's user-mode network, a TAP device without offloads, a pipe
// without TSO) costs gVisor a full trip through IP and TCP per 1,448 bytes. The adapter then
// runs the IPv4 frames of each batch the link delivers through gVisor's own GRO engine
// (gvisor.dev/gvisor/pkg/tcpip/stack/gro), which merges consecutive in-order segments of one
// flow with identical headers into one packet of up to 64 KiB, and flushes everything it
// holds when the batch ends: no segment waits longer than the batch it arrived in. Segments
// out of order, with different ACK numbers, options or flags, or with PSH, FIN, SYN, RST or
// URG end a flow's packet, so what TCP sees is what the peer sent, in fewer pieces. One
// difference from Linux's GRO: gVisor's engine does not compare the segments' windows, so a
// merged packet advertises its first segment's window; a window that grew within one batch
// reaches this side's sender with the flow's next packet.
//
// gVisor's engine updates the merged packet's IP length without recomputing any checksum, so
// it relies on RXChecksumValidated. gVisor's NIC sets that flag per NIC from the link
// endpoint's capabilities, not per packet: with coalescing on, the adapter announces receive
// checksum offload for every link and verifies each frame the link did not mark itself
// (checksum.go), as it does for links with FeatureRxCsum.

// newGRO returns gVisor's GRO engine, enabled, or nil when coalescing is off or the link
// already delivers coalesced frames.
func newGRO(off, linkCoalesces bool) *gro.GRO {
	if off || linkCoalesces {
		return nil
	}
	g := new(gro.GRO)
	g.Init(true)
	return g
}

// coalesce hands an IPv4 pkt to g, which delivers it to d now or holds it for merging until
// flush, and delivers other packets to d directly. The caller keeps its reference to pkt.
//
// IPv6 is not coalesced: gVisor's engine walks an IPv6 packet's extension headers with an
// iterator that allocates two objects per frame (measured as TestGRODoesNotAllocate does), and
// the receive path must not allocate per frame. A fix upstream (skip the iterator when the
// next header is TCP) would let IPv6 in.
func coalesce(g *gro.GRO, d stack.NetworkDispatcher, pkt *stack.PacketBuffer) {
	if pkt.NetworkProtocolNumber != header.IPv4ProtocolNumber {
		d.DeliverNetworkPacket(pkt.NetworkProtocolNumber, pkt)
		return
	}
	g.Dispatcher = d
	pkt.RXChecksumValidated = true // verified by the link or the adapter; see above
	g.Enqueue(pkt)
}
