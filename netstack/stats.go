package netstack

import "github.com/unikit/unikit/netstack/link"

// Stats is a snapshot of a stack's counters.
type Stats struct {
	// NICs are per-NIC counters in the order the NICs were added.
	NICs []NICStats
	IP   ProtocolStats // IPv4 and IPv6 together
	TCP  TCPStats
	UDP  ProtocolStats
	ICMP ProtocolStats // ICMPv4 and ICMPv6 echo requests and replies together
}

// NICStats are one NIC's counters: the stack's view and its link's own.
type NICStats struct {
	Name        string
	RxPackets   uint64 // packets the stack received on the NIC
	RxBytes     uint64
	TxPackets   uint64 // packets the stack sent through the NIC
	TxBytes     uint64
	RxMalformed uint64 // frames the adapter dropped as malformed
	RxBadCsum   uint64 // frames the adapter dropped for a bad checksum (links with FeatureRxCsum, or any while coalescing)
	TxErrors    uint64 // Transmit calls that failed
	LinkChanges uint64 // link up/down transitions reported by the link
	// The ACK hold's counters (NICConfig.AckHold): pure ACKs held back, held ACKs dropped
	// because a later segment of their connection carried the acknowledgement (each a frame
	// not sent), held ACKs sent when the hold expired, and the times the hold paused because
	// too few were superseded. TxPackets counts held ACKs as sent; the link's own counters
	// count only what it transmitted.
	AckHeld, AckSuperseded, AckExpired, AckPauses uint64
	Link                                          link.Stats
}

// ProtocolStats count packets of one protocol.
type ProtocolStats struct {
	Received  uint64 // packets received and accepted
	Sent      uint64 // packets sent
	Malformed uint64 // packets received and dropped as malformed or with a bad checksum
	Dropped   uint64 // packets received and dropped for other reasons
}

// TCPStats count TCP events.
type TCPStats struct {
	ProtocolStats
	ActiveOpens       uint64 // connections opened by Dial
	PassiveOpens      uint64 // connections accepted
	Established       uint64 // connections currently established
	Retransmits       uint64 // segments retransmitted
	ListenOverflowSYN uint64 // SYNs dropped or answered with a cookie because a backlog was full
	Resets            uint64 // resets sent
}

// Stats returns a snapshot of the stack's counters.
func (s *Stack) Stats() Stats {
	g := s.s.Stats()
	var st Stats
	s.mu.Lock()
	nics := s.nics
	s.mu.Unlock()
	info := s.s.NICInfo()
	for _, n := range nics {
		ns := NICStats{
			Name:          n.name,
			RxMalformed:   n.counters.rxMalformed.Load(),
			RxBadCsum:     n.counters.rxBadChecksum.Load(),
			TxErrors:      n.counters.txLinkErrors.Load(),
			LinkChanges:   n.counters.linkChanges.Load(),
			AckHeld:       n.counters.ackHeld.Load(),
			AckSuperseded: n.counters.ackSuperseded.Load(),
			AckExpired:    n.counters.ackExpired.Load(),
			AckPauses:     n.counters.ackPauses.Load(),
			Link:          n.link.Stats(),
		}
		if i, ok := info[n.id]; ok {
			ns.RxPackets = i.Stats.Rx.Packets.Value()
			ns.RxBytes = i.Stats.Rx.Bytes.Value()
			ns.TxPackets = i.Stats.Tx.Packets.Value()
			ns.TxBytes = i.Stats.Tx.Bytes.Value()
		}
		st.NICs = append(st.NICs, ns)
	}
	st.IP = ProtocolStats{
		Received:  g.IP.PacketsDelivered.Value(),
		Sent:      g.IP.PacketsSent.Value(),
		Malformed: g.IP.MalformedPacketsReceived.Value(),
		Dropped:   g.IP.InvalidDestinationAddressesReceived.Value() + g.IP.InvalidSourceAddressesReceived.Value(),
	}
	st.TCP = TCPStats{
		ProtocolStats: ProtocolStats{
			Received:  g.TCP.ValidSegmentsReceived.Value(),
			Sent:      g.TCP.SegmentsSent.Value(),
			Malformed: g.TCP.InvalidSegmentsReceived.Value() + g.TCP.ChecksumErrors.Value(),
			Dropped:   g.DroppedPackets.Value(),
		},
		ActiveOpens:       g.TCP.ActiveConnectionOpenings.Value(),
		PassiveOpens:      g.TCP.PassiveConnectionOpenings.Value(),
		Established:       g.TCP.CurrentEstablished.Value(),
		Retransmits:       g.TCP.Retransmits.Value(),
		ListenOverflowSYN: g.TCP.ListenOverflowSynDrop.Value() + g.TCP.ListenOverflowSynCookieSent.Value(),
		Resets:            g.TCP.ResetsSent.Value(),
	}
	st.UDP = ProtocolStats{
		Received:  g.UDP.PacketsReceived.Value(),
		Sent:      g.UDP.PacketsSent.Value(),
		Malformed: g.UDP.MalformedPacketsReceived.Value() + g.UDP.ChecksumErrors.Value(),
		Dropped:   g.UDP.ReceiveBufferErrors.Value() + g.UDP.UnknownPortErrors.Value(),
	}
	st.ICMP = ProtocolStats{
		Received: g.ICMP.V4.PacketsReceived.EchoRequest.Value() + g.ICMP.V4.PacketsReceived.EchoReply.Value() +
			g.ICMP.V6.PacketsReceived.EchoRequest.Value() + g.ICMP.V6.PacketsReceived.EchoReply.Value(),
		Sent: g.ICMP.V4.PacketsSent.EchoRequest.Value() + g.ICMP.V4.PacketsSent.EchoReply.Value() +
			g.ICMP.V6.PacketsSent.EchoRequest.Value() + g.ICMP.V6.PacketsSent.EchoReply.Value(),
		Malformed: g.ICMP.V4.PacketsReceived.Invalid.Value() + g.ICMP.V6.PacketsReceived.Invalid.Value(),
	}
	return st
}
