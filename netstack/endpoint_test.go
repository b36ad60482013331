package netstack

import (
	"github.com/unikit/unikit/netstack/link"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// recordingLink is a Link whose received frames the test injects through its receiver and
// whose releases and transmissions it counts.
type recordingLink struct {
	features link.Features
	mu       sync.Mutex
	rx       link.Receiver
	released int
	sent     int
}

func (l *recordingLink) MAC() net.HardwareAddr       { return net.HardwareAddr{2, 0, 0, 0, 0, 1} }
func (l *recordingLink) MTU() int                    { return 1500 }
func (l *recordingLink) Features() link.Features     { return l.features }
func (l *recordingLink) Up() bool                    { return true }
func (l *recordingLink) Stats() link.Stats           { return link.Stats{} }
func (l *recordingLink) Close() error                { return nil }
func (l *recordingLink) Start(r link.Receiver) error { l.rx = r; return nil }
func (l *recordingLink) Release(frames []link.Frame) {
	l.mu.Lock()
	l.released += len(frames)
	l.mu.Unlock()
}
func (l *recordingLink) Transmit(f []link.Frame) (int, error) {
	l.mu.Lock()
	l.sent += len(f)
	l.mu.Unlock()
	return len(f), nil
}

func newRecordingStack(t testing.TB, features link.Features) (*Stack, *recordingLink) {
	t.Helper()
	s, err := New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	l := &recordingLink{features: features}
	_, err = s.AddNIC(l, &NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	require.NoError(t, err)
	return s, l
}

// udpFrame builds an Ethernet/IPv4/UDP frame from src to dst:port with a valid checksum.
func udpFrame(src, dst netip.Addr, port uint16, payload []byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress("\x02\x00\x00\x00\x00\x02"), DstAddr: tcpip.LinkAddress("\x02\x00\x00\x00\x00\x01"),
		Type: header.IPv4ProtocolNumber,
	})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(ip[header.IPv4MinimumSize:])
	u.Encode(&header.UDPFields{SrcPort: 4000, DstPort: port, Length: uint16(len(u))})
	copy(u.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(u)))
	u.SetChecksum(^u.CalculateChecksum(xsum))
	return b
}

func TestDeliverFramesReleasesEveryFrame(t *testing.T) {
	_, l := newRecordingStack(t, 0)
	good := udpFrame(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"), 9, []byte("x"))
	frames := []link.Frame{
		{Segments: [][]byte{good}},
		{Segments: [][]byte{good[:10]}},                                                       // too short for Ethernet
		{Segments: [][]byte{good[:20], good[20:]}},                                            // two segments
		{Segments: [][]byte{make([]byte, 3000)}},                                              // longer than MTU, no GSO
		{Segments: [][]byte{good}, Offload: link.Offload{GSOType: link.GSOTCPv4, GSOSize: 1}}, // GRO not supported
	}
	l.rx.DeliverFrames(frames)
	require.Equal(t, len(frames), l.released)
}

func TestDeliverFramesDoesNotAllocate(t *testing.T) {
	if israce.Enabled {
		t.Skip("under -race sync.Pool drops a quarter of what it is given, so gVisor's pools allocate")
	}
	_, l := newRecordingStack(t, 0)
	// A datagram for an address the stack does not have: gVisor drops it at the IP layer, so
	// what is measured is the adapter's own path (copy into pooled buffers, dispatch).
	frame := udpFrame(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.99"), 9, make([]byte, 1000))
	frames := []link.Frame{{Segments: [][]byte{frame}}}
	r := allocs.Measure(1000, 0, func() { l.rx.DeliverFrames(frames) })
	require.Zero(t, r.Mallocs, "%v", r)
}

func TestRxChecksumVerifiedForUnmarkedFrames(t *testing.T) {
	s, l := newRecordingStack(t, link.FeatureRxCsum)
	pc, err := s.ListenPacket("udp", "10.0.0.1:9")
	require.NoError(t, err)
	defer pc.Close()
	frame := udpFrame(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"), 9, []byte("hello"))
	bad := append([]byte(nil), frame...)
	bad[len(bad)-1] ^= 0xff
	l.rx.DeliverFrames([]link.Frame{{Segments: [][]byte{bad}}})
	require.EqualValues(t, 1, s.Stats().NICs[0].RxBadCsum)
	// The same corrupted bytes marked as already validated by the link are trusted.
	l.rx.DeliverFrames([]link.Frame{{Segments: [][]byte{bad}, Offload: link.Offload{Flags: link.FlagDataValid}}})
	require.EqualValues(t, 1, s.Stats().NICs[0].RxBadCsum)
	require.EqualValues(t, 1, s.Stats().UDP.Received)
}

func FuzzDeliverFrames(f *testing.F) {
	f.Add(udpFrame(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"), 9, []byte("seed")), uint8(0), uint8(0), uint16(0), uint16(0))
	f.Add([]byte{}, uint8(1), uint8(1), uint16(14), uint16(6))
	f.Add(make([]byte, 60), uint8(2), uint8(4), uint16(100), uint16(1400))
	s, l := newRecordingStack(f, link.FeatureRxCsum|link.FeatureRxGRO)
	_ = s
	f.Fuzz(func(t *testing.T, data []byte, flags, gso uint8, csumStart, gsoSize uint16) {
		before := l.released
		fr := []link.Frame{{Segments: [][]byte{data}, Offload: link.Offload{
			Flags: link.OffloadFlags(flags), GSOType: link.GSOType(gso), CsumStart: csumStart, GSOSize: gsoSize,
		}}}
		if len(data) > 20 {
			fr = append(fr, link.Frame{Segments: [][]byte{data[:20], data[20:]}})
		}
		l.rx.DeliverFrames(fr)
		if l.released-before != len(fr) {
			t.Fatalf("released %d of %d frames", l.released-before, len(fr))
		}
	})
}

func TestWritePacketsDoesNotAllocate(t *testing.T) {
	if israce.Enabled {
		t.Skip("under -race sync.Pool drops a quarter of what it is given")
	}
	s, l := newRecordingStack(t, link.FeatureTxCsum|link.FeatureTxTSO4|link.FeatureTxTSO6)
	ep := s.nics[0].ep
	var pkts stack.PacketBufferList
	for range 8 {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
			ReserveHeaderBytes: header.EthernetMinimumSize,
			Payload:            buffer.MakeWithData(make([]byte, 1400)),
		})
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
		ep.AddHeader(pkt)
		pkts.PushBack(pkt)
	}
	defer pkts.DecRef()
	before := l.sent
	calls := 0
	r := allocs.Measure(1000, 0, func() {
		calls++
		n, err := ep.WritePackets(pkts)
		if err != nil || n != 8 {
			t.Fatalf("WritePackets = %d, %v", n, err)
		}
	})
	r = r.Per(len(pkts.AsSlice()), "packets")
	require.Zero(t, r.Mallocs, "%v", r)
	require.Equal(t, 8*calls, l.sent-before)
}

// TestCopyFrameSplitsLargeFrames checks that a large frame the link vouches for is copied
// into a small view of its first rxHeadLen bytes and a view of the rest, whatever its
// segments, and that a frame the stack verifies itself stays in one view.
func TestCopyFrameSplitsLargeFrames(t *testing.T) {
	s, _ := newRecordingStack(t, link.FeatureRxCsum|link.FeatureRxGRO)
	ep := s.nics[0].ep
	frame := make([]byte, 9000)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	gso := link.Offload{Flags: link.FlagDataValid, GSOType: link.GSOTCPv4, GSOSize: 1448}
	for _, cut := range [][2]int{{100, 200}, {256, 300}, {4000, 8999}, {1, 2}} {
		f := link.Frame{Segments: [][]byte{frame[:cut[0]], frame[cut[0]:cut[1]], frame[cut[1]:]}, Offload: gso}
		c, ok := ep.copyFrame(ep.dispatcher, &f)
		require.True(t, ok)
		require.NotNil(t, c.rest, "cut %v", cut)
		require.Equal(t, frame[:rxHeadLen], c.head.AsSlice(), "cut %v", cut)
		require.Equal(t, frame[rxHeadLen:], c.rest.AsSlice(), "cut %v", cut)
		c.head.Release()
		c.rest.Release()
	}

	small := link.Frame{Segments: [][]byte{frame[:rxSplitMin-1]}, Offload: gso}
	c, ok := ep.copyFrame(ep.dispatcher, &small)
	require.True(t, ok)
	require.Nil(t, c.rest)
	require.Equal(t, frame[:rxSplitMin-1], c.head.AsSlice())
	c.head.Release()
}

// TestDeliverLargeFramesDoesNotAllocate is TestDeliverFramesDoesNotAllocate for a GSO frame,
// which copyFrame splits into two views.
func TestDeliverLargeFramesDoesNotAllocate(t *testing.T) {
	if israce.Enabled {
		t.Skip("under -race sync.Pool drops a quarter of what it is given, so gVisor's pools allocate")
	}
	s, l := newRecordingStack(t, link.FeatureRxCsum|link.FeatureRxGRO)
	frame := udpFrame(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.99"), 9, make([]byte, 8000))
	frames := []link.Frame{{Segments: [][]byte{frame}, Offload: link.Offload{Flags: link.FlagDataValid, GSOType: link.GSOTCPv4, GSOSize: 1448}}}
	r := allocs.Measure(1000, 0, func() { l.rx.DeliverFrames(frames) })
	require.Zero(t, r.Mallocs, "%v", r)
	require.Zero(t, s.Stats().NICs[0].RxMalformed, "the frame must reach gVisor, not be dropped by the adapter")
}

// TestNICWritesWithoutAllocating checks the NIC's queueing discipline (qdisc.go): a packet the
// stack writes reaches the link without an allocation per packet, which gVisor's default
// discipline makes. The packet is written as a packet socket would, so that no transport or
// route lookup is in the way.
func TestNICWritesWithoutAllocating(t *testing.T) {
	if israce.Enabled {
		t.Skip("under -race sync.Pool drops a quarter of what it is given")
	}
	s, l := newRecordingStack(t, 0)
	payload := make([]byte, 100)
	before := l.sent
	calls := 0
	r := allocs.Measure(1000, 0, func() {
		calls++
		if err := s.s.WritePacketToRemote(s.nics[0].id, "\x02\x00\x00\x00\x00\x02", header.IPv4ProtocolNumber,
			buffer.MakeWithData(payload)); err != nil {
			t.Fatalf("WritePacketToRemote: %v", err)
		}
	}).Per(1, "packets")
	require.Zero(t, r.Mallocs, "%v", r)
	require.Equal(t, calls, l.sent-before)
}
