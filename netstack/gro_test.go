package netstack

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/netstack/link"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// tcpSeg describes one TCP segment for tcpFrame.
type tcpSeg struct {
	v6       bool
	sport    uint16
	seq, ack uint32
	flags    header.TCPFlags
	payload  int
}

var (
	groSrc4, groDst4 = netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.99") // not the stack's
	groSrc6, groDst6 = netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::1")
)

// tcpFrame builds an Ethernet/IP/TCP frame for s with valid checksums; payload byte i is
// byte(seq+i), so a merged packet's payload shows where each byte came from.
func tcpFrame(s tcpSeg) []byte {
	ipLen := header.IPv4MinimumSize
	proto := header.IPv4ProtocolNumber
	src, dst := tcpip.AddrFrom4(groSrc4.As4()), tcpip.AddrFrom4(groDst4.As4())
	if s.v6 {
		ipLen, proto = header.IPv6MinimumSize, header.IPv6ProtocolNumber
		src, dst = tcpip.AddrFrom16(groSrc6.As16()), tcpip.AddrFrom16(groDst6.As16())
	}
	b := make([]byte, header.EthernetMinimumSize+ipLen+header.TCPMinimumSize+s.payload)
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress("\x02\x00\x00\x00\x00\x02"), DstAddr: tcpip.LinkAddress("\x02\x00\x00\x00\x00\x01"),
		Type: proto,
	})
	ipb := b[header.EthernetMinimumSize:]
	if s.v6 {
		header.IPv6(ipb).Encode(&header.IPv6Fields{
			PayloadLength: uint16(len(ipb) - ipLen), TransportProtocol: header.TCPProtocolNumber,
			HopLimit: 64, SrcAddr: src, DstAddr: dst,
		})
	} else {
		ip := header.IPv4(ipb)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(len(ipb)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
			SrcAddr: src, DstAddr: dst,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	tcp := header.TCP(ipb[ipLen:])
	tcp.Encode(&header.TCPFields{
		SrcPort: s.sport, DstPort: 80, SeqNum: s.seq, AckNum: s.ack,
		DataOffset: header.TCPMinimumSize, Flags: s.flags, WindowSize: 1000,
	})
	for i := range s.payload {
		tcp[header.TCPMinimumSize+i] = byte(s.seq + uint32(i))
	}
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
	xsum = checksum.Checksum(tcp[header.TCPMinimumSize:], xsum)
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return b
}

// delivered is one packet as gVisor's NIC would receive it from the adapter.
type delivered struct {
	proto   tcpip.NetworkProtocolNumber
	sport   uint16
	seq     uint32
	flags   header.TCPFlags
	payload []byte
	csumOK  bool // RXChecksumValidated
}

// recordingDispatcher is the NIC's place: it records the packets the adapter delivers.
type recordingDispatcher struct{ got []delivered }

func (d *recordingDispatcher) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	b := pkt.Data().AsRange().ToSlice()
	ipLen := header.IPv4MinimumSize
	if proto == header.IPv6ProtocolNumber {
		ipLen = header.IPv6MinimumSize
	}
	tcp := header.TCP(b[ipLen:])
	d.got = append(d.got, delivered{
		proto: proto, sport: tcp.SourcePort(), seq: tcp.SequenceNumber(), flags: tcp.Flags(),
		payload: tcp[tcp.DataOffset():], csumOK: pkt.RXChecksumValidated,
	})
}

func (d *recordingDispatcher) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

// groEndpoint returns an adapter for a link with features, attached to a recording
// dispatcher.
func groEndpoint(features link.Features, noGRO bool) (*endpoint, *recordingDispatcher) {
	e := newEndpoint(&recordingLink{features: features}, new(nicCounters), noGRO, 0)
	d := new(recordingDispatcher)
	e.Attach(d)
	return e, d
}

func frames(segs ...tcpSeg) []link.Frame {
	f := make([]link.Frame, len(segs))
	for i, s := range segs {
		f[i] = link.Frame{Segments: [][]byte{tcpFrame(s)}}
	}
	return f
}

// wantPayload is the payload tcpFrame gives n bytes from seq on.
func wantPayload(seq uint32, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seq + uint32(i))
	}
	return b
}

// mssFor is the payload of a full segment at MTU 1500 without TCP options.
func mssFor(v6 bool) int {
	if v6 {
		return 1500 - header.IPv6MinimumSize - header.TCPMinimumSize
	}
	return 1500 - header.IPv4MinimumSize - header.TCPMinimumSize
}

func TestGROCoalescesInOrderSegments(t *testing.T) {
	e, d := groEndpoint(0, false)
	ack, m := header.TCPFlagAck, mssFor(false)
	e.DeliverFrames(frames(
		tcpSeg{sport: 1, seq: 1000, ack: 7, flags: ack, payload: m},
		tcpSeg{sport: 2, seq: 5000, ack: 7, flags: ack, payload: m}, // another flow
		tcpSeg{sport: 1, seq: 1000 + uint32(m), ack: 7, flags: ack, payload: m},
		tcpSeg{sport: 2, seq: 5000 + uint32(m), ack: 7, flags: ack, payload: m},
		tcpSeg{sport: 1, seq: 1000 + 2*uint32(m), ack: 7, flags: ack | header.TCPFlagPsh, payload: m},
	))
	require.Zero(t, e.counters.rxBadChecksum.Load()+e.counters.rxMalformed.Load())
	require.Len(t, d.got, 2, "one packet per flow")
	// Flow 1 ended with PSH, so it is delivered when that segment arrives, before the batch
	// ends; flow 2 is delivered by the flush at the end of the batch.
	assert.Equal(t, uint16(1), d.got[0].sport)
	assert.Equal(t, uint32(1000), d.got[0].seq)
	assert.Equal(t, ack|header.TCPFlagPsh, d.got[0].flags, "PSH carried over to the merged packet")
	assert.Equal(t, wantPayload(1000, 3*m), d.got[0].payload)
	assert.Equal(t, uint16(2), d.got[1].sport)
	assert.Equal(t, wantPayload(5000, 2*m), d.got[1].payload)
	for _, g := range d.got {
		assert.True(t, g.csumOK)
	}
}

// TestGROPassesIPv6Through: IPv6 segments reach gVisor one by one, in order, and checked
// (gro.go says why they are not coalesced), between coalesced IPv4 ones.
func TestGROPassesIPv6Through(t *testing.T) {
	e, d := groEndpoint(0, false)
	ack, m4, m6 := header.TCPFlagAck, mssFor(false), mssFor(true)
	e.DeliverFrames(frames(
		tcpSeg{v6: true, sport: 1, seq: 1000, ack: 7, flags: ack, payload: m6},
		tcpSeg{sport: 2, seq: 5000, ack: 7, flags: ack, payload: m4},
		tcpSeg{v6: true, sport: 1, seq: 1000 + uint32(m6), ack: 7, flags: ack, payload: m6},
		tcpSeg{sport: 2, seq: 5000 + uint32(m4), ack: 7, flags: ack, payload: m4},
	))
	require.Zero(t, e.counters.rxBadChecksum.Load()+e.counters.rxMalformed.Load())
	require.Len(t, d.got, 3)
	assert.Equal(t, delivered{proto: header.IPv6ProtocolNumber, sport: 1, seq: 1000, flags: ack, payload: wantPayload(1000, m6)}, d.got[0]) // the NIC sets RXChecksumValidated from the capability
	assert.Equal(t, uint32(1000+m6), d.got[1].seq)
	assert.Equal(t, header.IPv4ProtocolNumber, d.got[2].proto)
	assert.Equal(t, wantPayload(5000, 2*m4), d.got[2].payload)

	bad := tcpFrame(tcpSeg{v6: true, sport: 1, seq: 1000, ack: 7, flags: ack, payload: m6})
	bad[len(bad)-1] ^= 0xff
	e.DeliverFrames([]link.Frame{{Segments: [][]byte{bad}}})
	require.Len(t, d.got, 3)
	require.EqualValues(t, 1, e.counters.rxBadChecksum.Load())
}

func TestGROFlushesOutOfOrderAndFlags(t *testing.T) {
	ack := header.TCPFlagAck
	for _, tc := range []struct {
		name string
		segs []tcpSeg
		want []uint32 // sequence numbers of the delivered packets, in order
	}{
		{"gap", []tcpSeg{
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 3896, ack: 7, flags: ack, payload: 1448}, // 2448 missing
		}, []uint32{1000, 3896}},
		{"retransmission", []tcpSeg{
			{sport: 1, seq: 2448, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
		}, []uint32{2448, 1000}},
		{"new ack number", []tcpSeg{
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 2448, ack: 9, flags: ack, payload: 1448},
		}, []uint32{1000, 2448}},
		// A pure ACK with the same acknowledgement, options and flags as the segment before it
		// adds nothing to it (gVisor's engine, unlike Linux's, does not compare windows): it ends
		// the packet; one with new information is delivered on its own.
		{"pure ack, nothing new", []tcpSeg{
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 2448, ack: 7, flags: ack},
			{sport: 1, seq: 2448, ack: 7, flags: ack, payload: 1448},
		}, []uint32{1000, 2448}},
		{"pure ack, new ack number", []tcpSeg{
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 2448, ack: 9, flags: ack},
		}, []uint32{1000, 2448}},
		{"fin", []tcpSeg{
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 2448, ack: 7, flags: ack | header.TCPFlagFin, payload: 1448},
		}, []uint32{1000}},
		{"rst", []tcpSeg{
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 2448, ack: 7, flags: ack | header.TCPFlagRst},
		}, []uint32{1000, 2448}},
		{"shorter segment ends the packet", []tcpSeg{
			{sport: 1, seq: 1000, ack: 7, flags: ack, payload: 1448},
			{sport: 1, seq: 2448, ack: 7, flags: ack, payload: 100},
			{sport: 1, seq: 2548, ack: 7, flags: ack, payload: 1448},
		}, []uint32{1000, 2548}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, d := groEndpoint(0, false)
			e.DeliverFrames(frames(tc.segs...))
			var seqs []uint32
			total, want := 0, 0
			for _, g := range d.got {
				seqs = append(seqs, g.seq)
				total += len(g.payload)
			}
			for _, s := range tc.segs {
				want += s.payload
			}
			require.Equal(t, tc.want, seqs)
			require.Equal(t, want, total, "every byte delivered once")
		})
	}
}

func TestGROOff(t *testing.T) {
	segs := []tcpSeg{
		{sport: 1, seq: 1000, ack: 7, flags: header.TCPFlagAck, payload: 1448},
		{sport: 1, seq: 2448, ack: 7, flags: header.TCPFlagAck, payload: 1448},
	}
	for _, tc := range []struct {
		name     string
		features link.Features
		noGRO    bool
	}{
		{"NoGRO", 0, true},
		{"link coalesces", link.FeatureRxGRO | link.FeatureRxCsum, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, d := groEndpoint(tc.features, tc.noGRO)
			require.Nil(t, e.gro)
			e.DeliverFrames(frames(segs...))
			require.Len(t, d.got, 2)
		})
	}
	e, _ := groEndpoint(0, true)
	require.Zero(t, e.Capabilities()&stack.CapabilityRXChecksumOffload, "without coalescing, gVisor verifies checksums")
}

// TestGRODropsBadChecksums: with coalescing on, the adapter announces checksum offload for a
// link without FeatureRxCsum, so it must verify the frames itself.
func TestGRODropsBadChecksums(t *testing.T) {
	e, d := groEndpoint(0, false)
	require.NotZero(t, e.Capabilities()&stack.CapabilityRXChecksumOffload)
	bad := tcpFrame(tcpSeg{sport: 1, seq: 1000, ack: 7, flags: header.TCPFlagAck, payload: 1448})
	bad[len(bad)-1] ^= 0xff
	e.DeliverFrames([]link.Frame{{Segments: [][]byte{bad}}})
	require.Empty(t, d.got)
	require.EqualValues(t, 1, e.counters.rxBadChecksum.Load())
}

// TestGRODoesNotAllocate: steady-state receive with coalescing allocates nothing per frame,
// for a batch of in-order segments of several flows.
func TestGRODoesNotAllocate(t *testing.T) {
	if israce.Enabled {
		t.Skip("under -race sync.Pool drops a quarter of what it is given, so gVisor's pools allocate")
	}
	_, l := newRecordingStack(t, 0)
	var segs []tcpSeg
	m := mssFor(false)
	for i := range 32 {
		flow := uint16(i % 4)
		segs = append(segs, tcpSeg{sport: 1 + flow, seq: uint32(i/4) * uint32(m), ack: 7, flags: header.TCPFlagAck, payload: m})
	}
	batch := frames(segs...)
	// The segments are for an address the stack does not have: gVisor drops them at the IP
	// layer, so what is measured is the adapter's and GRO's path.
	e := l.rx.(*endpoint)
	r := allocs.Measure(200, 0, func() { l.rx.DeliverFrames(batch) })
	require.Zero(t, r.Mallocs, "%v", r)
	require.Zero(t, e.counters.rxBadChecksum.Load()+e.counters.rxMalformed.Load(), "the frames must reach GRO")
}
