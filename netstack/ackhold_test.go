package netstack

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/unikit/unikit/netstack/link"
)

// wireLink records every frame transmitted through it, with the time it was sent, standing
// for the wire behind the ACK hold.
type wireLink struct {
	recordingLink
	mu     sync.Mutex
	frames []wireFrame
}

type wireFrame struct {
	seg outSeg
	at  time.Time
}

func (l *wireLink) Transmit(frames []link.Frame) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range frames {
		var peek [ackPeekLen]byte
		s, _ := outSegment(&frames[i], &peek)
		l.frames = append(l.frames, wireFrame{seg: s, at: time.Now()})
	}
	return len(frames), nil
}

func (l *wireLink) sent() []wireFrame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wireFrame(nil), l.frames...)
}

// seg describes a test segment of the connection from 10.0.0.1:port to 10.0.0.2:80.
type seg struct {
	port    uint16
	flags   header.TCPFlags
	ack     uint32
	payload int
	sack    bool // add a SACK block
	noTS    bool // omit the timestamp option
}

// frame builds s as an Ethernet frame.
func (s seg) frame() link.Frame {
	var opts []byte
	if !s.noTS {
		opts = append(opts, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2)
	}
	if s.sack {
		opts = append(opts, 1, 1, 5, 10)
		opts = binary.BigEndian.AppendUint32(opts, s.ack+100)
		opts = binary.BigEndian.AppendUint32(opts, s.ack+200)
	}
	tcpLen := header.TCPMinimumSize + len(opts)
	b := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+tcpLen+s.payload)
	header.Ethernet(b).Encode(&header.EthernetFields{Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}),
	})
	tcp := header.TCP(ip[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{SrcPort: s.port, DstPort: 80, SeqNum: 1, AckNum: s.ack,
		DataOffset: uint8(tcpLen), Flags: s.flags, WindowSize: 1000})
	copy(tcp[header.TCPMinimumSize:], opts)
	return link.Frame{Segments: [][]byte{b}}
}

const ackFlag = header.TCPFlagAck

// holdTester drives an ackHold as the endpoint does: frames admit passes are transmitted
// right after it returns.
type holdTester struct {
	h    *ackHold
	wire *wireLink
	c    *nicCounters
	sc   ackScratch
}

func newHoldTester(bound time.Duration) *holdTester {
	wire := new(wireLink)
	c := new(nicCounters)
	return &holdTester{h: newAckHold(wire, c, bound, 1500), wire: wire, c: c}
}

// send offers s to the hold and reports whether it went out at once.
func (ht *holdTester) send(s seg) bool {
	f := s.frame()
	if !ht.h.admit(&f, &ht.sc) {
		return false
	}
	ht.wire.Transmit([]link.Frame{f})
	return true
}

func TestAckHoldSupersededByResponse(t *testing.T) {
	ht := newHoldTester(time.Hour)
	defer ht.h.close()
	require.True(t, ht.send(seg{port: 1000, flags: ackFlag | header.TCPFlagPsh, ack: 100, payload: 50}))
	// The request's ACK is held, then the response carries it.
	require.False(t, ht.send(seg{port: 1000, flags: ackFlag, ack: 300}), "pure ACK held")
	require.True(t, ht.send(seg{port: 1000, flags: ackFlag | header.TCPFlagPsh, ack: 300, payload: 4096}))
	sent := ht.wire.sent()
	require.Len(t, sent, 2)
	assert.False(t, sent[1].seg.pureAck)
	assert.Equal(t, uint64(1), ht.c.ackHeld.Load())
	assert.Equal(t, uint64(1), ht.c.ackSuperseded.Load())
	assert.Zero(t, ht.h.held.Load())
}

func TestAckHoldNeverHoldsDuplicateAcks(t *testing.T) {
	ht := newHoldTester(time.Hour)
	defer ht.h.close()
	require.True(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 500, payload: 100}))
	// Duplicates of the last acknowledgement sent pass at once, with or without SACK blocks
	// or timestamps.
	for _, s := range []seg{
		{port: 1001, flags: ackFlag, ack: 500},
		{port: 1001, flags: ackFlag, ack: 500},
		{port: 1001, flags: ackFlag, ack: 500, sack: true},
		{port: 1001, flags: ackFlag, ack: 500, noTS: true},
	} {
		require.True(t, ht.send(s), "duplicate ACK %+v passed", s)
	}
	// An advancing ACK is held; a duplicate of it sends it first, then goes itself.
	require.False(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 600}))
	require.True(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 600}))
	// A duplicate with SACK blocks, as TCP sends on out-of-order data, sends the held ACK
	// first and goes itself; so does a window update without timestamps.
	require.False(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 700}))
	require.True(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 700, sack: true}))
	require.False(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 800}))
	require.True(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 800, noTS: true}))
	var acks []uint32
	for _, f := range ht.wire.sent() {
		acks = append(acks, f.seg.ack)
	}
	assert.Equal(t, []uint32{500, 500, 500, 500, 500, 600, 600, 700, 700, 800, 800}, acks,
		"every ACK reached the wire, in the order TCP sent them")
	assert.Zero(t, ht.c.ackSuperseded.Load())
	// An ACK with SACK blocks and a later number stands for a held one.
	require.False(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 900}))
	require.True(t, ht.send(seg{port: 1001, flags: ackFlag, ack: 1000, sack: true}))
	assert.Equal(t, uint64(1), ht.c.ackSuperseded.Load())
}

func TestAckHoldPassesLargeAdvancesAndControlSegments(t *testing.T) {
	ht := newHoldTester(time.Hour)
	defer ht.h.close()
	require.True(t, ht.send(seg{port: 1002, flags: ackFlag, ack: 1000, payload: 10}))
	// Two full-sized segments' worth or more is acknowledged at once (RFC 5681 §4.2).
	require.True(t, ht.send(seg{port: 1002, flags: ackFlag, ack: 1000 + 2*1460}))
	require.True(t, ht.send(seg{port: 1002, flags: ackFlag | header.TCPFlagFin, ack: 5000}))
	require.True(t, ht.send(seg{port: 1002, flags: ackFlag | header.TCPFlagRst, ack: 5000}))
	assert.Zero(t, ht.c.ackHeld.Load())
	// A connection the hold has not seen an ACK of yet is never held from.
	require.True(t, ht.send(seg{port: 1003, flags: ackFlag, ack: 42}))
}

func TestAckHoldNewerAckReplacesHeld(t *testing.T) {
	ht := newHoldTester(time.Hour)
	defer ht.h.close()
	require.True(t, ht.send(seg{port: 1004, flags: ackFlag, ack: 100, payload: 1}))
	require.False(t, ht.send(seg{port: 1004, flags: ackFlag, ack: 200}))
	require.False(t, ht.send(seg{port: 1004, flags: ackFlag, ack: 300}), "the newer ACK is held instead")
	require.True(t, ht.send(seg{port: 1004, flags: ackFlag | header.TCPFlagPsh, ack: 300, payload: 10}))
	require.Len(t, ht.wire.sent(), 2)
	assert.Equal(t, uint64(2), ht.c.ackSuperseded.Load())
}

func TestAckHoldSendsWithinBound(t *testing.T) {
	const bound = 20 * time.Millisecond
	ht := newHoldTester(bound)
	defer ht.h.close()
	const flows = 200
	ports := ht.distinctSlots(2000, flows)
	for _, p := range ports {
		require.True(t, ht.send(seg{port: p, flags: ackFlag, ack: 100, payload: 1}))
	}
	start := time.Now()
	for _, p := range ports {
		require.False(t, ht.send(seg{port: p, flags: ackFlag, ack: 200}), "port %d: ACK held", p)
	}
	require.Eventually(t, func() bool { return len(ht.wire.sent()) == 2*flows }, 10*time.Second, time.Millisecond,
		"every held ACK was sent")
	for _, f := range ht.wire.sent()[flows:] {
		require.Equal(t, uint32(200), f.seg.ack)
		// The timer fires no earlier than the bound; how late it fires is the scheduler's
		// (the machine may be loaded): allow generously.
		assert.Less(t, f.at.Sub(start), bound+2*time.Second)
	}
	assert.Equal(t, uint64(flows), ht.c.ackExpired.Load())
	assert.Zero(t, ht.h.held.Load())
}

// distinctSlots returns n ports from first on whose connections all have slots of their own:
// at most two share a bucket.
func (ht *holdTester) distinctSlots(first uint16, n int) []uint16 {
	used := map[[2]any]int{}
	var ports []uint16
	for p := first; len(ports) < n; p++ {
		if k := ht.bucketOf(p); used[k] < 2 {
			used[k]++
			ports = append(ports, p)
		}
	}
	return ports
}

// bucketOf returns the stripe and bucket of the test connection from port.
func (ht *holdTester) bucketOf(port uint16) [2]any {
	f := seg{port: port, flags: ackFlag}.frame()
	var peek [ackPeekLen]byte
	s, _ := outSegment(&f, &peek)
	st, b := ht.h.bucket(s.hash)
	return [2]any{st, b}
}

func TestAckHoldEvictionKeepsOrder(t *testing.T) {
	ht := newHoldTester(time.Hour)
	defer ht.h.close()
	// Find three connections that share a bucket of two slots.
	ports := []uint16{3000}
	for p := uint16(3001); len(ports) < 3; p++ {
		if ht.bucketOf(p) == ht.bucketOf(3000) {
			ports = append(ports, p)
		}
	}
	for _, p := range ports[:2] {
		require.True(t, ht.send(seg{port: p, flags: ackFlag, ack: 100, payload: 1}))
	}
	require.False(t, ht.send(seg{port: ports[0], flags: ackFlag, ack: 200}))
	// A connection without a held ACK gives up its slot first.
	require.True(t, ht.send(seg{port: ports[2], flags: ackFlag, ack: 7, payload: 1}))
	require.Len(t, ht.wire.sent(), 3)
	require.True(t, ht.send(seg{port: ports[2], flags: ackFlag, ack: 50, payload: 1}))
	require.False(t, ht.send(seg{port: ports[2], flags: ackFlag, ack: 60}))
	require.Len(t, ht.wire.sent(), 4)
	// Both slots hold ACKs: the one due first leaves before its slot changes hands.
	require.True(t, ht.send(seg{port: ports[1], flags: ackFlag, ack: 300, payload: 1}))
	sent := ht.wire.sent()
	require.Len(t, sent, 6)
	assert.Equal(t, uint32(200), sent[4].seg.ack, "the evicted ACK left before the slot changed hands")
	assert.Equal(t, uint32(300), sent[5].seg.ack)
	// The evicted connection is tracked afresh: its next segment passes.
	require.True(t, ht.send(seg{port: ports[0], flags: ackFlag | header.TCPFlagPsh, ack: 200, payload: 5}))
	assert.Zero(t, ht.c.ackSuperseded.Load())
}

func TestAckHoldPausesWhenNotSuperseded(t *testing.T) {
	ht := newHoldTester(time.Hour)
	defer ht.h.close()
	ack := uint32(100)
	require.True(t, ht.send(seg{port: 6000, flags: ackFlag, ack: ack, payload: 1}))
	// Responses that keep coming in time: the hold never pauses.
	for range 2 * ackWindow {
		ack += 100
		require.False(t, ht.send(seg{port: 6000, flags: ackFlag, ack: ack}))
		require.True(t, ht.send(seg{port: 6000, flags: ackFlag | header.TCPFlagPsh, ack: ack, payload: 10}))
	}
	require.Zero(t, ht.c.ackPauses.Load())
	// ACKs that nothing supersedes (here sent early by duplicates of them): after a window of
	// them the hold pauses, and passes the next ACKs at once.
	for range ackWindow {
		ack += 100
		require.False(t, ht.send(seg{port: 6000, flags: ackFlag, ack: ack}))
		require.True(t, ht.send(seg{port: 6000, flags: ackFlag, ack: ack}))
	}
	require.Equal(t, uint64(1), ht.c.ackPauses.Load())
	require.True(t, ht.send(seg{port: 6000, flags: ackFlag, ack: ack + 100}), "paused: not held")
	// After the pause it holds again.
	ht.h.pausedUntil.Store(ht.h.now() - 1)
	require.False(t, ht.send(seg{port: 6000, flags: ackFlag, ack: ack + 200}))
}

func TestAckHoldAdmitDoesNotAllocate(t *testing.T) {
	ht := newHoldTester(time.Hour)
	defer ht.h.close()
	data := seg{port: 4000, flags: ackFlag | header.TCPFlagPsh, ack: 100, payload: 100}.frame()
	acks := [2]link.Frame{seg{port: 4000, flags: ackFlag, ack: 200}.frame(), seg{port: 4000, flags: ackFlag, ack: 300}.frame()}
	resp := [2]link.Frame{seg{port: 4000, flags: ackFlag | header.TCPFlagPsh, ack: 200, payload: 100}.frame(),
		seg{port: 4000, flags: ackFlag | header.TCPFlagPsh, ack: 300, payload: 100}.frame()}
	ht.h.admit(&data, &ht.sc)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		// Sequence numbers must advance: alternate between two pairs, rewriting the ack numbers.
		k := i % 2
		i++
		base := uint32(100 * (2*i + 1))
		setAck(acks[k], base+50)
		setAck(resp[k], base+50)
		ht.h.admit(&acks[k], &ht.sc)
		ht.h.admit(&resp[k], &ht.sc)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, ht.c.ackHeld.Load(), ht.c.ackSuperseded.Load(), "every held ACK was superseded")
}

// setAck rewrites the acknowledgement number of a frame built by seg.frame.
func setAck(f link.Frame, ack uint32) {
	b := f.Segments[0][header.EthernetMinimumSize+header.IPv4MinimumSize:]
	header.TCP(b).SetAckNumber(ack)
}

func TestOutSegmentSplitHeaders(t *testing.T) {
	f := seg{port: 5000, flags: ackFlag, ack: 9}.frame()
	b := f.Segments[0]
	split := link.Frame{Segments: [][]byte{b[:10], b[10:30], b[30:]}}
	var peek [ackPeekLen]byte
	whole, ok := outSegment(&f, &peek)
	require.True(t, ok)
	parts, ok := outSegment(&split, &peek)
	require.True(t, ok)
	assert.Equal(t, whole, parts)
	assert.True(t, whole.pureAck)
	// Not TCP: an ARP frame.
	arp := make([]byte, 42)
	header.Ethernet(arp).Encode(&header.EthernetFields{Type: header.ARPProtocolNumber, SrcAddr: tcpip.LinkAddress(net.HardwareAddr{2, 0, 0, 0, 0, 1})})
	_, ok = outSegment(&link.Frame{Segments: [][]byte{arp}}, &peek)
	assert.False(t, ok)
}

func FuzzOutSegment(f *testing.F) {
	for _, s := range []seg{{port: 1, flags: ackFlag, ack: 1}, {port: 2, flags: ackFlag, ack: 2, sack: true, payload: 3}} {
		f.Add(s.frame().Segments[0], 7)
	}
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var peek [ackPeekLen]byte
		fr := link.Frame{Segments: [][]byte{b}}
		if cut > 0 && cut < len(b) {
			fr.Segments = [][]byte{b[:cut], b[cut:]}
		}
		s, ok := outSegment(&fr, &peek)
		if ok && s.pureAck && s.length > ackFrameMax {
			t.Fatalf("pure ACK of %d bytes is longer than the hold keeps", s.length)
		}
	})
}

func TestJudgeAckWindow(t *testing.T) {
	const (
		base    = int64(time.Millisecond)
		ceiling = int64(32 * time.Millisecond)
		half    = ackWindow / 2
		eighth  = ackWindow / 8
	)
	for _, tc := range []struct {
		name      string
		cur       int64
		sup, late int
		bound     int64
		pause     bool
	}{
		{"all superseded: keep", 4 * base, ackWindow, 0, 4 * base, false},
		{"superseded, a few late: keep", 4 * base, ackWindow - eighth + 1, eighth - 1, 4 * base, false},
		{"superseded, an eighth late: double", 4 * base, ackWindow - eighth, eighth, 8 * base, false},
		{"superseded, an eighth late, at the ceiling: keep", ceiling, ackWindow - eighth, eighth, ceiling, false},
		{"superseded, an eighth waiting: keep", 4 * base, ackWindow - eighth, 0, 4 * base, false},
		{"superseded, more than an eighth waiting: halve", 4 * base, ackWindow - eighth - 1, 0, 2 * base, false},
		{"superseded, waiting more than late: halve", 4 * base, half, 200, 2 * base, false},
		{"superseded, waiting, at base: stay", base, half, 0, base, false},
		{"late responses: double", base, 0, ackWindow, 2 * base, false},
		{"mostly late: double", 8 * base, half - 1, 257, 16 * base, false},
		{"late, near the ceiling: the ceiling", 24 * base, 100, 900, ceiling, false},
		{"late at the ceiling: pause, from base", ceiling, 100, 900, base, true},
		{"waiting more than late: pause, from base", 8 * base, 100, 400, base, true},
		{"nothing superseded nor late: pause", base, 0, 0, base, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bound, pause := judgeAckWindow(tc.cur, base, ceiling, tc.sup, tc.late)
			assert.Equal(t, time.Duration(tc.bound), time.Duration(bound))
			assert.Equal(t, tc.pause, pause)
		})
	}
}

// TestAckHoldLengthensForLateResponses drives connections whose responses always come after
// the hold has expired, carrying the expired ACK: the hold doubles its bound instead of
// pausing. A peer that sends more after each expiry (it waited for the ACK) makes it pause.
func TestAckHoldLengthensForLateResponses(t *testing.T) {
	ht := newHoldTester(time.Millisecond)
	defer ht.h.close()
	ack := uint32(100)
	require.True(t, ht.send(seg{port: 7000, flags: ackFlag, ack: ack, payload: 1}))
	// expire makes every held ACK due and does the timer's work, without waiting for it.
	expire := func() {
		for i := range ht.h.stripes {
			st := &ht.h.stripes[i]
			st.mu.Lock()
			for j := range st.flows {
				st.flows[j].deadline = ht.h.now() - 1
			}
			st.mu.Unlock()
		}
		ht.h.expire()
		require.Zero(t, ht.h.held.Load())
	}
	for range ackWindow {
		ack += 100
		require.False(t, ht.send(seg{port: 7000, flags: ackFlag, ack: ack}))
		expire()
		require.True(t, ht.send(seg{port: 7000, flags: ackFlag | header.TCPFlagPsh, ack: ack, payload: 10}))
	}
	require.Equal(t, int64(2*time.Millisecond), ht.h.bound.Load())
	require.Zero(t, ht.c.ackPauses.Load())

	// The peer sends more after every expired ACK: not late, so the hold pauses.
	for range ackWindow {
		ack += 100
		require.False(t, ht.send(seg{port: 7000, flags: ackFlag, ack: ack}))
		expire()
		ack += 100 // the peer's next data, acknowledged by the response
		require.True(t, ht.send(seg{port: 7000, flags: ackFlag | header.TCPFlagPsh, ack: ack, payload: 10}))
	}
	require.Equal(t, uint64(1), ht.c.ackPauses.Load())
	require.Equal(t, int64(time.Millisecond), ht.h.bound.Load())
}
