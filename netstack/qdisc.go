package netstack

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// qdisc is the queueing discipline of every NIC: it queues nothing and hands each packet
// straight to the NIC's endpoint, as gVisor's default does, but without the heap allocation
// the default makes per packet (it puts the packet in a new stack.PacketBufferList, whose
// backing array of one pointer escapes, to call WritePackets). The endpoint takes a list of
// one from its pooled scratch instead (endpoint.writePacket).
//
// Back-pressure is the link's, as before: a full link queue makes the write fail with
// tcpip.ErrWouldBlock, and gVisor's TCP retransmits.
type qdisc struct{ ep *endpoint }

var _ stack.QueueingDiscipline = qdisc{}

// WritePacket implements stack.QueueingDiscipline.WritePacket. The caller keeps its
// reference to pkt.
func (q qdisc) WritePacket(pkt *stack.PacketBuffer) tcpip.Error { return q.ep.writePacket(pkt) }

// Close implements stack.QueueingDiscipline.Close; there is nothing queued to drop.
func (qdisc) Close() {}
