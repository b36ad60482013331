package virtio

import (
	"encoding/binary"

	"github.com/unikit/unikit/netstack/link"
)

// postRx posts receive buffer b.
// +checklocks:n.rxMu
func (n *Net) postRx(b int) error {
	n.rxBuf[0] = Buffer{Addr: n.rxBufs.Addr + uint64(b*n.rxSize), Len: uint32(n.rxSize), Write: true}
	_, err := n.rx.Add(n.rxBuf, uint64(b))
	return err
}

// reapRx collects up to a batch of received frames into n.frames. When the queue is empty and
// arm is set it re-enables interrupts, and keeps reaping if frames arrived meanwhile.
func (n *Net) reapRx(arm bool) int {
	n.rxMu.Lock()
	defer n.rxMu.Unlock()
	if n.failure.Load() != nil {
		return 0
	}
	k := 0
	// Stop once a quarter of the ring is held: the buffers go back to the device only after
	// the batch is delivered, and a batch of 64 KiB GSO frames could otherwise take the whole
	// ring and leave the device nothing to receive into meanwhile.
	limit := n.rx.NumFree() + n.rx.Size()/4
	for k < len(n.frames) && n.rx.NumFree() < limit {
		u, ok, err := n.rx.Get()
		if err != nil {
			n.fail(err)
			break
		}
		if !ok {
			if k > 0 || !arm || !n.rx.EnableInterrupts() {
				break
			}
			continue
		}
		n.rx.DisableInterrupts()
		if n.receiveFrame(u, &n.frames[k]) {
			k++
		}
	}
	if n.rx.KickPrepare() {
		n.t.Notify(NetRxQueue, NetRxQueue)
	}
	return k
}

// receiveFrame turns the used buffer u (and, with merged buffers, the ones after it) into f.
// It reposts the buffers and returns false for a malformed frame.
// +checklocks:n.rxMu
func (n *Net) receiveFrame(u Used, f *link.Frame) bool {
	b := int(u.Token)
	buf := n.rxBufs.Buf[b*n.rxSize : b*n.rxSize+int(u.Len)]
	if len(buf) < n.hdrLen {
		n.counters.RxError()
		_ = n.postRx(b)
		return false
	}
	nbuf := 1
	if n.features&NetFMrgRxbuf != 0 {
		nbuf = int(binary.LittleEndian.Uint16(buf[10:]))
	}
	segs := n.rxSegs[b][:0]
	segs = append(segs, buf[n.hdrLen:])
	total := len(buf) - n.hdrLen
	n.rxNext[b] = -1
	last := b
	ok := nbuf >= 1 && nbuf <= n.merge
	for i := 1; i < nbuf && ok; i++ {
		m, got, err := n.rx.Get()
		if err != nil {
			n.fail(err)
			ok = false
			break
		}
		if !got { // section 5.1.6.4.2: the buffers of one packet are used together
			n.counters.RxError()
			ok = false
			break
		}
		mb := int(m.Token)
		n.rxNext[last], n.rxNext[mb] = int32(mb), -1
		last = mb
		seg := n.rxBufs.Buf[mb*n.rxSize : mb*n.rxSize+int(m.Len)]
		segs = append(segs, seg)
		total += len(seg)
	}
	var hdr [link.VirtioNetHdrLen]byte
	copy(hdr[:], buf)
	hdr[0] &= byte(link.FlagNeedsCsum | link.FlagDataValid) // ignore RSC_INFO and unknown bits
	if ok {
		f.Offload, ok = n.rxOffload(hdr[:], total)
	}
	if ok && (total < link.EthernetHeaderLen || total > link.MaxGSOSize ||
		(f.Offload.GSOType == link.GSONone && total > link.EthernetHeaderLen+n.mtu)) {
		ok = false
	}
	if !ok {
		n.counters.RxDropped(1)
		for i := b; i >= 0; {
			next := int(n.rxNext[i])
			_ = n.postRx(i)
			i = next
		}
		n.rxSegs[b] = segs[:0]
		return false
	}
	if f.Offload.GSOType != link.GSONone {
		fixGSOPseudoHeader(segs[0], f.Offload, total)
	}
	n.rxSegs[b] = segs
	n.rxLent[b] = true
	n.rxLentN++
	f.Segments = segs
	f.Cookie = uint64(b)
	n.counters.Received(1, total)
	return true
}

// rxOffload validates a received virtio_net_hdr against the frame and the negotiated features.
func (n *Net) rxOffload(hdr []byte, frameLen int) (link.Offload, bool) {
	o, err := link.ParseVirtioNetHdr(hdr, frameLen)
	if err != nil {
		return o, false
	}
	if o.Flags&link.FlagNeedsCsum != 0 && n.features&NetFGuestCsum == 0 {
		return o, false
	}
	switch o.GSOType &^ link.GSOECN {
	case link.GSONone:
	case link.GSOTCPv4:
		if n.features&NetFGuestTSO4 == 0 || o.Flags&link.FlagNeedsCsum == 0 {
			return o, false
		}
	case link.GSOTCPv6:
		if n.features&NetFGuestTSO6 == 0 || o.Flags&link.FlagNeedsCsum == 0 {
			return o, false
		}
	default:
		return o, false
	}
	if o.GSOType&link.GSOECN != 0 && n.features&NetFGuestECN == 0 {
		return o, false
	}
	return o, true
}

// fixGSOPseudoHeader makes the pending checksum of a received TCP GSO frame whose headers lie
// in first hold what the link contract, virtio and Linux put there: the pseudo-header sum over
// the whole transport length of the large packet, which a receiver completes over the whole
// frame or adjusts for each segment it cuts. DPDK's vhost library writes the sum without the
// length instead, as Intel NICs want it for TSO (rte_net_intel_cksum_prepare; DPDK's own
// virtio driver adds the length back before it transmits, in virtio_tso_fix_cksum): a field
// that holds exactly that sum gets the length added. Any other value is left as the device
// wrote it. It reads only the headers and writes two bytes within first.
func fixGSOPseudoHeader(first []byte, o link.Offload, frameLen int) {
	h, ok := link.LocateHeaders(first)
	if !ok || h.Proto != link.ProtoTCP || int(o.CsumStart) != h.L4 || int(o.CsumOffset) != h.CsumOffset() {
		return
	}
	addrs := first[h.L3+12 : h.L3+20]
	if h.IPv6 {
		addrs = first[h.L3+8 : h.L3+40]
	}
	tail := [4]byte{0, link.ProtoTCP}
	withoutLen := link.Checksum(tail[:], link.Checksum(addrs, 0))
	binary.BigEndian.PutUint16(tail[2:], uint16(frameLen-h.L4))
	withLen := link.Checksum(tail[:], link.Checksum(addrs, 0))
	field := first[h.L4+h.CsumOffset():]
	if binary.BigEndian.Uint16(field) == withoutLen {
		binary.BigEndian.PutUint16(field, withLen)
	}
}

// Release implements [link.Link]: the frames' buffers are posted to the device again.
// Frames that are not lent by this link are ignored. After Close the buffers are not posted
// (the device is reset), and the release of the last frame lent lets a transport free the
// memory behind them (see afterLent).
func (n *Net) Release(frames []link.Frame) {
	n.rxMu.Lock()
	closed := n.closed.Load()
	for i := range frames {
		b := frames[i].Cookie
		if b >= uint64(len(n.rxLent)) || !n.rxLent[b] {
			continue
		}
		n.rxLent[b] = false
		n.rxLentN--
		clear(n.rxSegs[b])
		if closed {
			continue
		}
		for j := int(b); j >= 0; {
			next := int(n.rxNext[j])
			_ = n.postRx(j) // fails only on a broken queue, which Err reports
			j = next
		}
	}
	var drained func()
	if closed {
		if n.rxLentN == 0 {
			drained, n.rxDrained = n.rxDrained, nil
		}
	} else if n.rx.Err() == nil && n.rx.KickPrepare() {
		n.t.Notify(NetRxQueue, NetRxQueue)
	}
	n.rxMu.Unlock()
	if drained != nil {
		drained()
	}
}
