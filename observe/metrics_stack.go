package observe

import (
	"cmp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/unikit/unikit/netstack"
)

// counter is one of the stack's counters (gVisor's tcpip.Stats) exported as a Prometheus
// counter.
type counter struct {
	desc *prometheus.Desc
	read func(*tcpip.Stats) uint64
}

// newCounter describes the counter unikit_NAME.
func newCounter(name, help string, read func(*tcpip.Stats) uint64) counter {
	return counter{prometheus.NewDesc("unikit_"+name, help, nil, nil), read}
}

// stackCounters are the stack's IP, ARP, ICMP, UDP and TCP counters.
var stackCounters = []counter{
	newCounter("ip_packets_received_total", "IP packets received from the NICs.", func(s *tcpip.Stats) uint64 { return s.IP.PacketsReceived.Value() }),
	newCounter("ip_packets_delivered_total", "IP packets delivered to the transport protocols.", func(s *tcpip.Stats) uint64 { return s.IP.PacketsDelivered.Value() }),
	newCounter("ip_packets_sent_total", "IP packets sent.", func(s *tcpip.Stats) uint64 { return s.IP.PacketsSent.Value() }),
	newCounter("ip_malformed_packets_received_total", "IP packets dropped as malformed.", func(s *tcpip.Stats) uint64 { return s.IP.MalformedPacketsReceived.Value() }),
	newCounter("ip_invalid_addresses_received_total", "IP packets dropped for their source or destination address.", func(s *tcpip.Stats) uint64 {
		return s.IP.InvalidDestinationAddressesReceived.Value() + s.IP.InvalidSourceAddressesReceived.Value()
	}),
	newCounter("ip_outgoing_errors_total", "IP packets that could not be sent.", func(s *tcpip.Stats) uint64 { return s.IP.OutgoingPacketErrors.Value() }),
	newCounter("arp_packets_received_total", "ARP packets received.", func(s *tcpip.Stats) uint64 { return s.ARP.PacketsReceived.Value() }),
	newCounter("arp_malformed_packets_received_total", "ARP packets dropped as malformed.", func(s *tcpip.Stats) uint64 { return s.ARP.MalformedPacketsReceived.Value() }),
	newCounter("arp_requests_received_total", "ARP requests received.", func(s *tcpip.Stats) uint64 { return s.ARP.RequestsReceived.Value() }),
	newCounter("arp_replies_received_total", "ARP replies received.", func(s *tcpip.Stats) uint64 { return s.ARP.RepliesReceived.Value() }),
	newCounter("arp_requests_sent_total", "ARP requests sent.", func(s *tcpip.Stats) uint64 { return s.ARP.OutgoingRequestsSent.Value() }),
	newCounter("arp_replies_sent_total", "ARP replies sent.", func(s *tcpip.Stats) uint64 { return s.ARP.OutgoingRepliesSent.Value() }),
	newCounter("icmp_echo_requests_received_total", "ICMPv4 and ICMPv6 echo requests received.", func(s *tcpip.Stats) uint64 {
		return s.ICMP.V4.PacketsReceived.EchoRequest.Value() + s.ICMP.V6.PacketsReceived.EchoRequest.Value()
	}),
	newCounter("icmp_echo_replies_sent_total", "ICMPv4 and ICMPv6 echo replies sent.", func(s *tcpip.Stats) uint64 {
		return s.ICMP.V4.PacketsSent.EchoReply.Value() + s.ICMP.V6.PacketsSent.EchoReply.Value()
	}),
	newCounter("icmp_destination_unreachable_sent_total", "ICMPv4 and ICMPv6 destination unreachable messages sent.", func(s *tcpip.Stats) uint64 {
		return s.ICMP.V4.PacketsSent.DstUnreachable.Value() + s.ICMP.V6.PacketsSent.DstUnreachable.Value()
	}),
	newCounter("icmp_invalid_received_total", "ICMP messages dropped as invalid.", func(s *tcpip.Stats) uint64 {
		return s.ICMP.V4.PacketsReceived.Invalid.Value() + s.ICMP.V6.PacketsReceived.Invalid.Value()
	}),
	newCounter("udp_datagrams_received_total", "UDP datagrams received.", func(s *tcpip.Stats) uint64 { return s.UDP.PacketsReceived.Value() }),
	newCounter("udp_datagrams_sent_total", "UDP datagrams sent.", func(s *tcpip.Stats) uint64 { return s.UDP.PacketsSent.Value() }),
	newCounter("udp_unknown_port_errors_total", "UDP datagrams for a port nothing listens on.", func(s *tcpip.Stats) uint64 { return s.UDP.UnknownPortErrors.Value() }),
	newCounter("udp_receive_buffer_errors_total", "UDP datagrams dropped for a full receive buffer.", func(s *tcpip.Stats) uint64 { return s.UDP.ReceiveBufferErrors.Value() }),
	newCounter("udp_malformed_datagrams_received_total", "UDP datagrams dropped as malformed or for their checksum.", func(s *tcpip.Stats) uint64 {
		return s.UDP.MalformedPacketsReceived.Value() + s.UDP.ChecksumErrors.Value()
	}),
	newCounter("tcp_segments_received_total", "Valid TCP segments received.", func(s *tcpip.Stats) uint64 { return s.TCP.ValidSegmentsReceived.Value() }),
	newCounter("tcp_invalid_segments_received_total", "TCP segments dropped as invalid or for their checksum.", func(s *tcpip.Stats) uint64 {
		return s.TCP.InvalidSegmentsReceived.Value() + s.TCP.ChecksumErrors.Value()
	}),
	newCounter("tcp_segments_sent_total", "TCP segments sent, retransmissions included.", func(s *tcpip.Stats) uint64 { return s.TCP.SegmentsSent.Value() }),
	newCounter("tcp_segment_send_errors_total", "TCP segments that could not be sent.", func(s *tcpip.Stats) uint64 { return s.TCP.SegmentSendErrors.Value() }),
	newCounter("tcp_retransmits_total", "TCP segments retransmitted.", func(s *tcpip.Stats) uint64 { return s.TCP.Retransmits.Value() }),
	newCounter("tcp_fast_retransmits_total", "TCP segments retransmitted by fast retransmit.", func(s *tcpip.Stats) uint64 { return s.TCP.FastRetransmit.Value() }),
	newCounter("tcp_timeouts_total", "TCP retransmission timeouts that fired.", func(s *tcpip.Stats) uint64 { return s.TCP.Timeouts.Value() }),
	newCounter("tcp_fast_recoveries_total", "TCP fast recoveries entered.", func(s *tcpip.Stats) uint64 { return s.TCP.FastRecovery.Value() }),
	newCounter("tcp_sack_recoveries_total", "TCP SACK recoveries entered.", func(s *tcpip.Stats) uint64 { return s.TCP.SACKRecovery.Value() }),
	newCounter("tcp_active_opens_total", "TCP connections opened by this side.", func(s *tcpip.Stats) uint64 { return s.TCP.ActiveConnectionOpenings.Value() }),
	newCounter("tcp_passive_opens_total", "TCP connections accepted.", func(s *tcpip.Stats) uint64 { return s.TCP.PassiveConnectionOpenings.Value() }),
	newCounter("tcp_failed_connection_attempts_total", "TCP connection attempts that failed.", func(s *tcpip.Stats) uint64 { return s.TCP.FailedConnectionAttempts.Value() }),
	newCounter("tcp_established_resets_total", "Established TCP connections reset.", func(s *tcpip.Stats) uint64 { return s.TCP.EstablishedResets.Value() }),
	newCounter("tcp_established_timeouts_total", "Established TCP connections closed because they timed out.", func(s *tcpip.Stats) uint64 { return s.TCP.EstablishedTimedout.Value() }),
	newCounter("tcp_resets_sent_total", "TCP resets sent.", func(s *tcpip.Stats) uint64 { return s.TCP.ResetsSent.Value() }),
	newCounter("tcp_resets_received_total", "TCP resets received.", func(s *tcpip.Stats) uint64 { return s.TCP.ResetsReceived.Value() }),
	newCounter("tcp_syn_cookies_sent_total", "SYN cookies sent because a listen queue was full.", func(s *tcpip.Stats) uint64 { return s.TCP.ListenOverflowSynCookieSent.Value() }),
	newCounter("tcp_syn_cookies_received_total", "Valid SYN cookies received.", func(s *tcpip.Stats) uint64 { return s.TCP.ListenOverflowSynCookieRcvd.Value() }),
	newCounter("tcp_invalid_syn_cookies_received_total", "Invalid SYN cookies received.", func(s *tcpip.Stats) uint64 { return s.TCP.ListenOverflowInvalidSynCookieRcvd.Value() }),
	newCounter("tcp_listen_queue_syn_drops_total", "SYNs dropped because a listen queue was full.", func(s *tcpip.Stats) uint64 { return s.TCP.ListenOverflowSynDrop.Value() }),
	newCounter("tcp_listen_queue_ack_drops_total", "Handshake-completing ACKs dropped because an accept queue was full.", func(s *tcpip.Stats) uint64 { return s.TCP.ListenOverflowAckDrop.Value() }),
	newCounter("packets_dropped_total", "Packets the stack dropped for want of a route, endpoint or buffer.", func(s *tcpip.Stats) uint64 { return s.DroppedPackets.Value() }),
}

// Descriptions of the per-NIC counters and the connection gauge.
var (
	nicLabels   = []string{"nic"}
	nicCounters = []struct {
		desc *prometheus.Desc
		read func(*netstack.NICStats) uint64
	}{
		{nicDesc("receive_frames_total", "Frames the link delivered to the stack."), func(n *netstack.NICStats) uint64 { return n.Link.RxFrames }},
		{nicDesc("receive_bytes_total", "Bytes of the frames the link delivered."), func(n *netstack.NICStats) uint64 { return n.Link.RxBytes }},
		{nicDesc("receive_dropped_frames_total", "Frames the link received but did not deliver."), func(n *netstack.NICStats) uint64 { return n.Link.RxDropped }},
		{nicDesc("receive_errors_total", "Receive errors the device or transport reported."), func(n *netstack.NICStats) uint64 { return n.Link.RxErrors }},
		{nicDesc("transmit_frames_total", "Frames the link accepted for transmission."), func(n *netstack.NICStats) uint64 { return n.Link.TxFrames }},
		{nicDesc("transmit_bytes_total", "Bytes of the frames the link accepted."), func(n *netstack.NICStats) uint64 { return n.Link.TxBytes }},
		{nicDesc("transmit_dropped_frames_total", "Frames the link dropped on transmit."), func(n *netstack.NICStats) uint64 { return n.Link.TxDropped }},
		{nicDesc("transmit_errors_total", "Transmit errors the device or transport reported."), func(n *netstack.NICStats) uint64 { return n.Link.TxErrors }},
		{nicDesc("receive_malformed_frames_total", "Frames the stack's adapter dropped as malformed."), func(n *netstack.NICStats) uint64 { return n.RxMalformed }},
		{nicDesc("receive_bad_checksum_frames_total", "Frames the stack's adapter dropped for a bad checksum."), func(n *netstack.NICStats) uint64 { return n.RxBadCsum }},
		{nicDesc("link_changes_total", "Link up and down transitions."), func(n *netstack.NICStats) uint64 { return n.LinkChanges }},
		{nicDesc("ack_held_total", "Pure ACKs the ACK hold took back."), func(n *netstack.NICStats) uint64 { return n.AckHeld }},
		{nicDesc("ack_superseded_total", "Held ACKs dropped because a later segment carried the acknowledgement."), func(n *netstack.NICStats) uint64 { return n.AckSuperseded }},
		{nicDesc("ack_expired_total", "Held ACKs sent when the hold expired."), func(n *netstack.NICStats) uint64 { return n.AckExpired }},
		{nicDesc("ack_hold_pauses_total", "Times the ACK hold paused because too few held ACKs were superseded."), func(n *netstack.NICStats) uint64 { return n.AckPauses }},
	}
	tcpConnsDesc = prometheus.NewDesc("unikit_tcp_connections", "TCP endpoints of the stack by state.", []string{"state"}, nil)
)

// nicDesc describes the per-NIC counter unikit_nic_NAME.
func nicDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("unikit_nic_"+name, help, nicLabels, nil)
}

// tcpStates are the states unikit_tcp_connections reports, every one even when at zero, so a
// graph of one has no gaps.
var tcpStates = []tcp.EndpointState{
	tcp.StateEstablished, tcp.StateSynSent, tcp.StateSynRecv, tcp.StateFinWait1, tcp.StateFinWait2,
	tcp.StateTimeWait, tcp.StateClose, tcp.StateCloseWait, tcp.StateLastAck, tcp.StateListen, tcp.StateClosing,
}

// stackCollector reads the stack's counters at scrape time.
type stackCollector struct{ s *netstack.Stack }

// Describe implements prometheus.Collector.
func (c *stackCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range stackCounters {
		ch <- m.desc
	}
	for _, m := range nicCounters {
		ch <- m.desc
	}
	ch <- tcpConnsDesc
}

// Collect implements prometheus.Collector.
func (c *stackCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.s.TCPIP().Stats()
	for _, m := range stackCounters {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.read(&g)))
	}
	st := c.s.Stats()
	for i := range st.NICs {
		n := &st.NICs[i]
		name := cmp.Or(n.Name, strconv.Itoa(i+1)) // an unnamed NIC by its ID
		for _, m := range nicCounters {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.read(n)), name)
		}
	}
	byState := map[tcp.EndpointState]int{}
	for _, e := range tcpEndpoints(c.s) {
		byState[tcp.EndpointState(e.State())]++
	}
	for _, s := range tcpStates {
		ch <- prometheus.MustNewConstMetric(tcpConnsDesc, prometheus.GaugeValue, float64(byState[s]), stateName(s))
	}
}
