package netstack

import (
	"context"
	"runtime/trace"
	"sync"
	"time"

	"github.com/unikit/unikit/netstack/link"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/stack/gro"
)

// gsoMaxSize is what the adapter tells gVisor's TCP a GSO packet may hold. TCP limits a
// segment's payload to gsoMaxSize-61 bytes; with 60 bytes of TCP header and 20 of IPv4 header
// the IP packet then stays within the 65535 bytes its length field can express.
const gsoMaxSize = 65535 - 40

// txBatch is how many packets the adapter hands a link in one Transmit call, and rxBatch how
// many received frames it copies before releasing them to the link and dispatching them.
const (
	txBatch = 64
	rxBatch = 64
)

// endpoint adapts a Link to gVisor's stack.LinkEndpoint. It adds and parses the Ethernet
// header, maps gVisor's GSO options to Offload metadata on transmit and Offload flags to
// checksum validation on receive, and implements Receiver for the link.
//
// Received frames are copied once into gVisor's pooled buffers and released to the link before
// DeliverFrames returns; transmitted packets are passed to the link as scatter lists of
// gVisor's own buffers, without a copy.
type endpoint struct {
	link     link.Link
	mac      tcpip.LinkAddress
	features link.Features
	hostGSO  bool
	// rxCsum: the adapter announces receive checksum offload and verifies unmarked frames
	// itself, for links with FeatureRxCsum and whenever it coalesces (gro.go).
	rxCsum   bool
	counters *nicCounters

	dmu        sync.RWMutex
	dispatcher stack.NetworkDispatcher

	mtuMu sync.RWMutex
	mtu   uint32

	// rxCopies holds one batch of copied frames between their release and their dispatch;
	// DeliverFrames is never called concurrently for one link.
	rxCopies [rxBatch]rxCopy

	// gro coalesces received TCP segments within one DeliverFrames call (gro.go); nil when
	// off. Only DeliverFrames uses it.
	gro *gro.GRO

	// hold keeps pure TCP ACKs back briefly for a later segment to carry (ackhold.go); nil
	// when off.
	hold *ackHold

	onClose func()
}

var (
	_ stack.LinkEndpoint = (*endpoint)(nil)
	_ stack.GSOEndpoint  = (*endpoint)(nil)
	_ link.Receiver      = (*endpoint)(nil)
)

// newEndpoint adapts l. noGRO turns receive coalescing off; ackHold is how long pure ACKs
// may be held (ackhold.go), none when not positive.
func newEndpoint(l link.Link, counters *nicCounters, noGRO bool, ackHold time.Duration) *endpoint {
	f := l.Features()
	g := newGRO(noGRO, f.Has(link.FeatureRxGRO))
	e := &endpoint{
		link:     l,
		mac:      tcpip.LinkAddress(l.MAC()),
		features: f,
		hostGSO:  f.Has(link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6),
		rxCsum:   f.Has(link.FeatureRxCsum) || g != nil,
		counters: counters,
		mtu:      uint32(l.MTU()),
		gro:      g,
	}
	if ackHold > 0 {
		e.hold = newAckHold(l, counters, ackHold, l.MTU())
	}
	return e
}

// MTU implements stack.LinkEndpoint.MTU.
func (e *endpoint) MTU() uint32 {
	e.mtuMu.RLock()
	defer e.mtuMu.RUnlock()
	return e.mtu
}

// SetMTU implements stack.LinkEndpoint.SetMTU. The DHCP client uses it to apply a lease's MTU.
func (e *endpoint) SetMTU(mtu uint32) {
	e.mtuMu.Lock()
	e.mtu = mtu
	e.mtuMu.Unlock()
}

// MaxHeaderLength implements stack.LinkEndpoint.MaxHeaderLength.
func (e *endpoint) MaxHeaderLength() uint16 { return header.EthernetMinimumSize }

// LinkAddress implements stack.LinkEndpoint.LinkAddress.
func (e *endpoint) LinkAddress() tcpip.LinkAddress { return e.mac }

// SetLinkAddress implements stack.LinkEndpoint.SetLinkAddress; a Link's MAC is fixed.
func (e *endpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint.Capabilities. Transmit checksum offload is not
// announced, since gVisor would then omit checksums on every packet; with host GSO, TCP marks
// its packets for partial checksums itself. Receive checksum offload is announced for links
// with FeatureRxCsum and whenever the adapter coalesces (gro.go), and the adapter then
// verifies unmarked frames itself (checksum.go).
func (e *endpoint) Capabilities() stack.LinkEndpointCapabilities {
	if e.rxCsum {
		return stack.CapabilityResolutionRequired | stack.CapabilityRXChecksumOffload
	}
	return stack.CapabilityResolutionRequired
}

// GSOMaxSize implements stack.GSOEndpoint.GSOMaxSize.
func (e *endpoint) GSOMaxSize() uint32 {
	if e.hostGSO {
		return gsoMaxSize
	}
	return 0
}

// SupportedGSO implements stack.GSOEndpoint.SupportedGSO.
func (e *endpoint) SupportedGSO() stack.SupportedGSO {
	if e.hostGSO {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

// Attach implements stack.LinkEndpoint.Attach.
func (e *endpoint) Attach(d stack.NetworkDispatcher) {
	e.dmu.Lock()
	e.dispatcher = d
	e.dmu.Unlock()
}

// IsAttached implements stack.LinkEndpoint.IsAttached.
func (e *endpoint) IsAttached() bool {
	e.dmu.RLock()
	defer e.dmu.RUnlock()
	return e.dispatcher != nil
}

// Wait implements stack.LinkEndpoint.Wait; the link's goroutines end in Link.Close.
func (e *endpoint) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.ARPHardwareType.
func (e *endpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements stack.LinkEndpoint.AddHeader.
func (e *endpoint) AddHeader(pkt *stack.PacketBuffer) {
	src := pkt.EgressRoute.LocalLinkAddress
	if src == "" {
		src = e.mac
	}
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{
		SrcAddr: src,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader implements stack.LinkEndpoint.ParseHeader.
func (e *endpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// Close implements stack.LinkEndpoint.Close.
func (e *endpoint) Close() {
	if e.hold != nil {
		e.hold.close()
	}
	if e.onClose != nil {
		e.onClose()
	}
}

// SetOnCloseAction implements stack.LinkEndpoint.SetOnCloseAction.
func (e *endpoint) SetOnCloseAction(f func()) { e.onClose = f }

// WritePackets implements stack.LinkWriter.WritePackets. It hands the packets to the link in
// batches of up to txBatch frames, each frame a scatter list of the packet's own buffers. As
// in gVisor's own endpoints, the caller keeps its references to the packets. Calls may run
// concurrently; links serialise what they must themselves.
func (e *endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	b := txBatches.Get().(*txBatchState)
	defer txBatches.Put(b)
	return e.write(b, pkts.AsSlice())
}

// writePacket transmits one packet, as WritePackets does a list of them, for the NIC's
// queueing discipline (qdisc.go): the caller keeps its reference to pkt.
func (e *endpoint) writePacket(pkt *stack.PacketBuffer) tcpip.Error {
	b := txBatches.Get().(*txBatchState)
	defer txBatches.Put(b)
	b.one[0] = pkt
	_, err := e.write(b, b.one[:])
	b.one[0] = nil
	return err
}

// write transmits list using b's scratch. Packets the ACK hold takes count as sent. With the
// hold on, packets are decided on and transmitted one at a time, so that an ACK the hold
// sends early never overtakes a segment of its connection earlier in list; the NIC's
// queueing discipline (qdisc.go) hands the adapter one packet at a time anyway.
func (e *endpoint) write(b *txBatchState, list []*stack.PacketBuffer) (int, tcpip.Error) {
	defer trace.StartRegion(context.Background(), traceLinkTx).End()
	sent := 0
	batch := txBatch
	if e.hold != nil {
		batch = 1
	}
	for len(list) > 0 {
		n := min(len(list), batch)
		k := 0 // frames to transmit
		for _, pkt := range list[:n] {
			b.frames[k] = link.Frame{Segments: appendSegments(b.segs[k][:0], pkt), Offload: e.offloadOf(pkt)}
			b.segs[k] = b.frames[k].Segments
			if e.hold != nil && !e.hold.admit(&b.frames[k], &b.ack) {
				sent++ // held: admit copied it
				clear(b.segs[k])
				continue
			}
			k++
		}
		m := 0
		var err error
		if k > 0 {
			m, err = e.link.Transmit(b.frames[:k])
		}
		for i := range b.frames[:k] {
			clear(b.segs[i]) // drop references to gVisor's buffers
			b.frames[i] = link.Frame{}
		}
		sent += m
		if err != nil {
			e.counters.txLinkErrors.Add(1)
			if sent == 0 {
				return 0, linkError(err)
			}
			return sent, nil
		}
		list = list[n:]
	}
	return sent, nil
}

// txBatchState is one WritePackets or writePacket call's scratch. Calls take it from txBatches rather than
// sharing one behind a lock: gVisor transmits from many goroutines at once, and a shared lock
// held across the link's system calls made them queue (measured with the HTTP benchmark over
// TAP: most of the mutex wait time of a run).
type txBatchState struct {
	frames [txBatch]link.Frame
	segs   [txBatch][][]byte
	one    [1]*stack.PacketBuffer // writePacket's packet as a list
	ack    ackScratch
}

var txBatches = sync.Pool{New: func() any { return new(txBatchState) }}

// appendSegments appends pkt's bytes, from its link header on, to segs without copying.
func appendSegments(segs [][]byte, pkt *stack.PacketBuffer) [][]byte {
	views, off := pkt.AsViewList()
	for v := views.Front(); v != nil; v = v.Next() {
		b := v.AsSlice()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		segs = append(segs, b[off:])
		off = 0
	}
	return segs
}

// offloadOf maps gVisor's GSO options on pkt to virtio_net_hdr metadata, as Linux's
// virtio_net_hdr_from_skb does.
func (e *endpoint) offloadOf(pkt *stack.PacketBuffer) link.Offload {
	if !e.hostGSO || pkt.GSOOptions.Type == stack.GSONone {
		return link.Offload{}
	}
	gso := pkt.GSOOptions
	var o link.Offload
	if gso.NeedsCsum {
		o.Flags = link.FlagNeedsCsum
		o.CsumStart = header.EthernetMinimumSize + gso.L3HdrLen
		o.CsumOffset = gso.CsumOffset
	}
	if pkt.Data().Size() > int(gso.MSS) {
		switch gso.Type {
		case stack.GSOTCPv4:
			o.GSOType = link.GSOTCPv4
		case stack.GSOTCPv6:
			o.GSOType = link.GSOTCPv6
		}
		o.GSOSize = gso.MSS
		o.HdrLen = uint16(pkt.HeaderSize())
	}
	return o
}

// linkError maps a Link's error to the gVisor error its callers expect.
func linkError(err error) tcpip.Error {
	switch err {
	case link.ErrClosed:
		return &tcpip.ErrClosedForSend{}
	case link.ErrLinkDown:
		return &tcpip.ErrNetworkUnreachable{}
	case link.ErrQueueFull:
		return &tcpip.ErrWouldBlock{}
	default:
		return &tcpip.ErrAborted{}
	}
}

// DeliverFrames implements Receiver. Each frame is validated, copied into a pooled gVisor
// buffer and dispatched, through the coalescer when it is on (gro.go), which is flushed
// before DeliverFrames returns; all frames are released to the link before it returns. Frames that
// are too short, too long or carry inconsistent offload metadata are dropped and counted, and
// so are frames with bad checksums when the adapter verifies them (see checksum.go).
func (e *endpoint) DeliverFrames(frames []link.Frame) {
	defer trace.StartRegion(context.Background(), traceLinkRx).End()
	e.dmu.RLock()
	d := e.dispatcher
	e.dmu.RUnlock()
	for len(frames) > 0 {
		batch := frames[:min(len(frames), rxBatch)]
		frames = frames[len(batch):]
		// Copy the whole batch out and give the link its buffers back before gVisor runs:
		// a link whose receive pool is small gets its buffers back sooner, and a stack that
		// transmits while handling a packet never waits on buffers it is itself holding.
		copies := e.rxCopies[:0]
		for i := range batch {
			if c, ok := e.copyFrame(d, &batch[i]); ok {
				copies = append(copies, c)
			}
		}
		e.link.Release(batch)
		for i, c := range copies {
			buf := buffer.MakeWithView(c.head)
			if c.rest != nil {
				buf.Append(c.rest)
			}
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buf})
			hdr, _ := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
			pkt.NetworkProtocolNumber = header.Ethernet(hdr).Type()
			if e.gro != nil {
				coalesce(e.gro, d, pkt)
			} else {
				d.DeliverNetworkPacket(pkt.NetworkProtocolNumber, pkt)
			}
			pkt.DecRef()
			copies[i] = rxCopy{}
		}
	}
	if e.gro != nil && e.gro.Dispatcher != nil {
		e.gro.Flush()
	}
}

// rxCopy is a received frame copied into pooled gVisor views: its first bytes in head and,
// for a large frame, the rest in a view of its own.
type rxCopy struct{ head, rest *buffer.View }

// rxSplitMin and rxHeadLen: a frame of rxSplitMin bytes or more is copied into two views,
// its first rxHeadLen bytes (room for Ethernet, IP and TCP headers with options) and the
// rest. gVisor's IP layer holds a reference to the view of the network header while it
// reads that header again, and reading a header out of a shared view copies the whole view
// (buffer.PullUp): with the headers in a small view of their own, that copy is a few hundred
// bytes instead of a 64 KiB segment, and the payload is never copied again.
const (
	rxSplitMin = 2048
	rxHeadLen  = 256
)

// copyFrame validates f and copies it into pooled gVisor views, or counts it as dropped and
// returns false.
func (e *endpoint) copyFrame(d stack.NetworkDispatcher, f *link.Frame) (rxCopy, bool) {
	n := f.Len()
	if d == nil || !e.acceptable(f, n) {
		e.counters.rxMalformed.Add(1)
		return rxCopy{}, false
	}
	// A frame whose checksums the stack verifies itself is checked in one contiguous view.
	verify := e.rxCsum && f.Offload.Flags == 0
	if verify || n < rxSplitMin {
		v := buffer.NewView(n)
		for _, s := range f.Segments {
			v.Write(s)
		}
		if verify && !checksumsValid(v.AsSlice()) {
			v.Release()
			e.counters.rxBadChecksum.Add(1)
			return rxCopy{}, false
		}
		return rxCopy{head: v}, true
	}
	c := rxCopy{head: buffer.NewView(rxHeadLen), rest: buffer.NewView(n - rxHeadLen)}
	head := rxHeadLen
	for _, s := range f.Segments {
		if head > 0 {
			k := min(head, len(s))
			c.head.Write(s[:k])
			s, head = s[k:], head-k
		}
		c.rest.Write(s)
	}
	return c, true
}

// acceptable reports whether a received frame of n bytes may be handed to gVisor.
func (e *endpoint) acceptable(f *link.Frame, n int) bool {
	if n < header.EthernetMinimumSize || n > link.MaxGSOSize {
		return false
	}
	if f.Offload.GSOType != link.GSONone && !e.features.Has(link.FeatureRxGRO) {
		return false
	}
	if f.Offload.Flags != 0 && !e.features.Has(link.FeatureRxCsum) {
		return false
	}
	if n > int(e.MTU())+header.EthernetMinimumSize && f.Offload.GSOType == link.GSONone {
		return false
	}
	return true
}

// LinkStateChanged implements Receiver.
func (e *endpoint) LinkStateChanged(up bool) {
	e.counters.linkChanges.Add(1)
}
