package tap

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// Addresses of the link tests: the kernel's side of the TAP and the stack's side (the link).
var (
	kernelV4 = netip.MustParseAddr("10.77.0.1")
	linkV4   = netip.MustParseAddr("10.77.0.2")
)

// kernelPeer opens a TAP link in the test's namespace, moves the kernel side of the device into
// a new namespace and gives it kernelV4/24 there, with a static neighbour entry for linkV4 so
// that the kernel sends to the link without ARP.
func kernelPeer(t *testing.T, cfg *Config) (*Link, *netns.NS, net.HardwareAddr) {
	t.Helper()
	peers.Root(t)
	ns := netns.New(t)
	l, err := Open(netns.UniqueName("uktap"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	ns.MoveLink(t, l.Name())
	ns.AddAddr(t, l.Name(), netip.PrefixFrom(kernelV4, 24))
	ns.LinkUp(t, l.Name())
	ns.IP(t, "neigh", "replace", linkV4.String(), "lladdr", l.MAC().String(), "dev", l.Name())
	var kmac net.HardwareAddr
	require.NoError(t, ns.Do(func() error {
		ifi, err := net.InterfaceByName(l.Name())
		if err == nil {
			kmac = ifi.HardwareAddr
		}
		return err
	}))
	return l, ns, kmac
}

// udpPayload returns the payload of an IPv4 UDP frame to port, and false for any other
// frame; it does not allocate.
func udpPayload(b []byte, port uint16) ([]byte, bool) {
	h, ok := link.LocateHeaders(b)
	if !ok || h.IPv6 || h.Proto != link.ProtoUDP || binary.BigEndian.Uint16(b[h.L4+2:]) != port {
		return nil, false
	}
	end := h.L4 + int(binary.BigEndian.Uint16(b[h.L4+4:]))
	if end < h.Len || end > len(b) {
		return nil, false
	}
	return b[h.Len:end], true
}

// toPort returns a filter for UDP frames to port.
func toPort(port uint16) func([]byte) bool {
	return func(b []byte) bool { _, ok := udpPayload(b, port); return ok }
}

// udpFrame builds an Ethernet/IPv4/UDP frame from the link to the kernel. partial leaves only
// the pseudo-header sum in the UDP checksum, as a stack using checksum offload would; badCsum
// corrupts a complete checksum.
func udpFrame(src, dst net.HardwareAddr, dport uint16, payload []byte, partial, badCsum bool) ([]byte, link.Offload) {
	const eh, ih, uh = header.EthernetMinimumSize, header.IPv4MinimumSize, header.UDPMinimumSize
	b := make([]byte, eh+ih+uh+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(src), DstAddr: tcpip.LinkAddress(dst), Type: header.IPv4ProtocolNumber,
	})
	s, d := tcpip.AddrFrom4(linkV4.As4()), tcpip.AddrFrom4(kernelV4.As4())
	ip := header.IPv4(b[eh:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(ih + uh + len(payload)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
		SrcAddr: s, DstAddr: d,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	udp := header.UDP(b[eh+ih:])
	udp.Encode(&header.UDPFields{SrcPort: 40000, DstPort: dport, Length: uint16(uh + len(payload))})
	copy(udp.Payload(), payload)
	pseudo := header.PseudoHeaderChecksum(header.UDPProtocolNumber, s, d, uint16(uh+len(payload)))
	if partial {
		udp.SetChecksum(pseudo)
		return b, link.Offload{Flags: link.FlagNeedsCsum, CsumStart: eh + ih, CsumOffset: 6}
	}
	udp.SetChecksum(^checksum.Checksum(udp, pseudo))
	if badCsum {
		udp.SetChecksum(udp.Checksum() ^ 0x5a5a)
	}
	return b, link.Offload{}
}

func TestOpenConfig(t *testing.T) {
	peers.Root(t)
	l, err := Open(netns.UniqueName("uktap"), nil)
	require.NoError(t, err)
	require.Equal(t, 1500, l.MTU())
	require.Len(t, l.MAC(), 6)
	require.Equal(t, byte(2), l.MAC()[0]&3, "locally administered unicast")
	want := link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6 |
		link.FeatureRxCsum | link.FeatureRxGRO
	require.Equal(t, want, l.Features())
	require.True(t, l.Up())
	_, err = net.InterfaceByName(l.Name())
	require.NoError(t, err, "the device exists while open")
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	require.False(t, l.Up())
	_, err = l.Transmit([]link.Frame{{Segments: [][]byte{make([]byte, 60)}}})
	require.ErrorIs(t, err, link.ErrClosed)
	_, err = net.InterfaceByName(l.Name())
	require.Error(t, err, "a device Open created goes away with Close")

	mac := net.HardwareAddr{0x02, 1, 2, 3, 4, 5}
	l, err = Open("", &Config{MAC: mac, MTU: 9000, NoOffload: true})
	require.NoError(t, err)
	defer l.Close()
	require.NotEmpty(t, l.Name(), "the kernel names the device")
	require.Equal(t, mac, l.MAC())
	require.Equal(t, 9000, l.MTU())
	require.Zero(t, l.Features())

	_, err = Open("", &Config{MTU: 10})
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Open("a-name-much-too-long-for-linux", nil)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Open("", &Config{Batch: 100000})
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = Open("", &Config{MAC: net.HardwareAddr{1, 2, 3}})
	require.ErrorIs(t, err, ErrBadConfig)
}

// TestKernelToLink has the kernel send UDP datagrams to the link's address and checks that
// they arrive in batches at the receiver, then that the receiver hears of the link going down
// when the kernel's side of the device is deleted.
func TestKernelToLink(t *testing.T) {
	l, ns, _ := kernelPeer(t, nil)
	r := linktest.NewRecorder(l, &linktest.RecorderConfig{Filter: toPort(9999)})
	require.NoError(t, l.Start(r))
	require.ErrorIs(t, l.Start(r), link.ErrStarted)
	r.WaitStates(t, true)

	var c net.Conn
	require.NoError(t, ns.Do(func() error {
		var err error
		c, err = net.Dial("udp4", netip.AddrPortFrom(linkV4, 9999).String())
		return err
	}))
	defer c.Close()
	for i := range 20 {
		msg := []byte{'m', byte(i)}
		_, err := c.Write(msg)
		require.NoError(t, err)
		got, _ := udpPayload(r.WaitFrames(t, i+1)[i].Data, 9999)
		require.Equal(t, msg, got)
	}
	st := l.Stats()
	require.GreaterOrEqual(t, st.RxFrames, uint64(20))
	delivered, _ := r.Totals()
	require.Equal(t, delivered, st.RxFrames)
	require.Zero(t, st.RxDropped)

	// Deleting the device from the kernel's side ends the reader and takes the link down.
	ns.IP(t, "link", "del", l.Name())
	r.WaitStates(t, true, false)
	require.False(t, l.Up())
	r.Check(t)
}

// TestLinkToKernel transmits UDP frames to the kernel: a complete one, one with a partial
// checksum (checksum offload: the kernel accepts it) and one with a wrong checksum (which the
// kernel drops, showing that it does check).
func TestLinkToKernel(t *testing.T) {
	l, ns, kmac := kernelPeer(t, nil)
	var pc net.PacketConn
	require.NoError(t, ns.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", netip.AddrPortFrom(kernelV4, 9998).String())
		return err
	}))
	defer pc.Close()
	buf := make([]byte, 2048)
	recv := func() (string, bool) {
		require.NoError(t, pc.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return "", false
		}
		return string(buf[:n]), true
	}

	for _, tc := range []struct {
		name             string
		partial, bad, ok bool
	}{
		{"complete", false, false, true},
		{"partial-checksum", true, false, true},
		{"bad-checksum", false, true, false},
	} {
		payload := []byte("to the kernel: " + tc.name)
		b, o := udpFrame(l.MAC(), kmac, 9998, payload, tc.partial, tc.bad)
		// Split the frame to exercise writev with several segments.
		n, err := l.Transmit([]link.Frame{{Segments: [][]byte{b[:10], b[10:30], {}, b[30:]}, Offload: o}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got, ok := recv()
		require.Equal(t, tc.ok, ok, tc.name)
		if ok {
			require.Equal(t, string(payload), got)
		}
	}
	st := l.Stats()
	require.Equal(t, uint64(3), st.TxFrames)
	require.Equal(t, uint64(1), l.OffloadStats().TxNeedsCsum)

	// Frames that are too short or too long are dropped and counted, and do not stop the batch.
	good, _ := udpFrame(l.MAC(), kmac, 9998, []byte("after the bad ones"), false, false)
	n, err := l.Transmit([]link.Frame{
		{Segments: [][]byte{make([]byte, 5)}},
		{Segments: [][]byte{make([]byte, 1600)}},
		{Segments: [][]byte{good}},
	})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	got, ok := recv()
	require.True(t, ok)
	require.Equal(t, "after the bad ones", got)
	require.Equal(t, uint64(2), l.Stats().TxDropped)

	// An inconsistent header is refused by the kernel (EINVAL) and counted as an error.
	n, err = l.Transmit([]link.Frame{{Segments: [][]byte{good},
		Offload: link.Offload{Flags: link.FlagNeedsCsum, CsumStart: 2000, CsumOffset: 6}}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, uint64(1), l.Stats().TxErrors)
}

// TestTransmitNoAllocs checks that Transmit does not allocate per frame.
func TestTransmitNoAllocs(t *testing.T) {
	if israce.Enabled {
		t.Skip("under -race sync.Pool, which holds Transmit's scratch, drops a quarter of what it is given")
	}
	l, _, kmac := kernelPeer(t, nil)
	b, o := udpFrame(l.MAC(), kmac, 9997, make([]byte, 1000), true, false)
	frames := []link.Frame{{Segments: [][]byte{b[:42], b[42:]}, Offload: o}, {Segments: [][]byte{b}, Offload: o}}
	_, err := l.Transmit(frames) // warm up: the iovec array grows once
	require.NoError(t, err)
	r := allocs.Measure(1000, 0, func() {
		if n, err := l.Transmit(frames); n != 2 || err != nil {
			panic(err)
		}
	}).Per(len(frames), "frames")
	require.Zero(t, r.Mallocs, "%v", r)
}

// TestReceiveNoAllocs checks that the receive path (reader goroutine, pool, delivery and
// release) does not allocate per frame: the kernel sends a datagram, the receiver takes it.
func TestReceiveNoAllocs(t *testing.T) {
	l, ns, _ := kernelPeer(t, nil)
	r := linktest.NewCounter(l, func(f *link.Frame) bool {
		_, ok := udpPayload(f.Segments[0], 9996)
		return ok
	})
	require.NoError(t, l.Start(r))
	var c net.Conn
	require.NoError(t, ns.Do(func() error {
		var err error
		c, err = net.Dial("udp4", netip.AddrPortFrom(linkV4, 9996).String())
		return err
	}))
	defer c.Close()
	msg := make([]byte, 1200)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			panic(err)
		}
		if err := r.Wait(1); err != nil {
			panic(err)
		}
	}
	for range 10 {
		roundTrip()
	}
	got := allocs.Measure(500, 0, roundTrip).Per(1, "datagrams")
	require.Zero(t, got.Mallocs, "%v", got)
}

// TestCloseEndsReader checks that Close unblocks a reader waiting for frames and ends it.
func TestCloseEndsReader(t *testing.T) {
	peers.Root(t)
	before := runtime.NumGoroutine()
	l, err := Open("", nil)
	require.NoError(t, err)
	r := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(r))
	time.Sleep(20 * time.Millisecond) // let the reader block in the poller
	done := make(chan error)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	leaktest.Settle(t, before)
	r.WaitStates(t, true, false) // up at Start, down at Close
}

// TestPoolBackPressure holds every receive buffer and checks that the reader waits for one to
// be released instead of allocating or overwriting lent frames.
func TestPoolBackPressure(t *testing.T) {
	l, ns, _ := kernelPeer(t, &Config{Batch: 2, Buffers: 2, NoOffload: true})
	r := linktest.NewRecorder(l, nil)
	r.Hold(math.MaxInt)
	require.NoError(t, l.Start(r))
	var c net.Conn
	require.NoError(t, ns.Do(func() error {
		var err error
		c, err = net.Dial("udp4", netip.AddrPortFrom(linkV4, 9995).String())
		return err
	}))
	defer c.Close()
	for i := 0; r.Len() < 2; i++ {
		n := r.Len()
		_, err := c.Write([]byte{byte(i)})
		require.NoError(t, err)
		r.WaitFrames(t, n+1)
	}
	lent := r.Held()
	// With no buffer free, more datagrams must not reach the receiver or touch lent frames.
	for i := range 3 {
		_, err := c.Write([]byte{0xf0 + byte(i)})
		require.NoError(t, err)
	}
	require.Len(t, r.Settle(200*time.Millisecond), 2, "delivered without a free buffer")
	require.Equal(t, 2, r.ReleaseHeld())
	r.Check(t)         // the lent frames were not touched
	l.Release(lent)    // a second release is ignored
	r.WaitFrames(t, 3) // the reader resumed after the release
}

// FuzzAccept feeds arbitrary bytes, as read from the device, to the receive validation: it must
// not panic, and a frame it accepts must be consistent with its header.
func FuzzAccept(f *testing.F) {
	hdr := make([]byte, link.VirtioNetHdrLen)
	frame := make([]byte, 60)
	f.Add(append(hdr, frame...))
	link.PutVirtioNetHdr(hdr, link.Offload{Flags: link.FlagNeedsCsum, CsumStart: 34, CsumOffset: 6})
	f.Add(append(hdr, frame...))
	link.PutVirtioNetHdr(hdr, link.Offload{GSOType: link.GSOTCPv4, GSOSize: 1448, HdrLen: 66})
	f.Add(append(hdr, make([]byte, 3000)...))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tc := range []struct {
			features link.Features
			complete bool
		}{{0, false}, {link.FeatureRxCsum | link.FeatureRxGRO, false}, {link.FeatureRxCsum | link.FeatureRxGRO, true}} {
			features := tc.features
			b := append([]byte(nil), b...) // accept may complete checksums in place
			l := &Link{mtu: 1500, features: features, complete: tc.complete, segs: make([][1][]byte, 1), frames: make([]link.Frame, 1)}
			if !l.accept(0, b) {
				continue
			}
			fr := l.frames[0]
			n := fr.Len()
			require.Equal(t, len(b)-link.VirtioNetHdrLen, n)
			o := fr.Offload
			if tc.complete {
				require.Zero(t, o.Flags&link.FlagNeedsCsum, "partial checksums are completed")
			} else if o.Flags&link.FlagNeedsCsum != 0 {
				require.LessOrEqual(t, int(o.CsumStart)+int(o.CsumOffset)+2, n)
			}
			if o.GSOType != link.GSONone {
				require.True(t, features.Has(link.FeatureRxGRO))
			} else {
				require.LessOrEqual(t, n, 1500+link.EthernetHeaderLen+vlanHeaderLen)
			}
			require.Equal(t, uint16(binary.LittleEndian.Uint16(b[2:])), o.HdrLen)
		}
	})
}
