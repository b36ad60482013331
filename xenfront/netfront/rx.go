package netfront

import (
	"context"
	"runtime/trace"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
)

const (
	// rxBatch is how many frames one DeliverFrames call carries at most.
	rxBatch = 64
	// maxRxSlots is the most data slots an RX packet may use: XEN_NETIF_NR_SLOTS_MIN, plus
	// one when the first slot holds at most rxCopyThreshold bytes (Linux xennet_get_responses).
	maxRxSlots      = netif.NrSlotsMin + 1
	rxCopyThreshold = 256
)

// lentRec remembers the RX buffers of one frame lent to the receiver.
type lentRec struct {
	bufs [maxRxSlots]uint16
	n    uint8
	used bool
}

// rxPacket is one packet while collect gathers it from the RX ring: where it is on the ring,
// the frame and record it fills, and what its slots said.
type rxPacket struct {
	next uint32 // the next response to consume
	prod uint32 // rsp_prod, checked: the packet must end before it

	f *link.Frame // the frame its data segments go into
	r *lentRec    // the buffers of its data slots

	flags   uint16          // NETRXF_* of the first slot
	gso     netif.ExtraInfo // the GSO extra, when hasGSO
	hasGSO  bool
	errored bool // a slot carried an error status: the packet is dropped
	total   int  // bytes of data
}

// postRxBuffers posts every queue's free RX buffers, before the front end goes Connected.
func (c *connection) postRxBuffers() {
	for _, q := range c.queues {
		q.rxMu.Lock()
		q.refill()
		q.rxMu.Unlock()
	}
}

// refill posts free RX buffers and notifies the back end if it asked (rxMu held).
func (q *queue) refill() {
	for q.rx.Free() > 0 && len(q.rxFree) > 0 {
		b := q.rxFree[len(q.rxFree)-1]
		q.rxFree = q.rxFree[:len(q.rxFree)-1]
		slot := q.rx.ReqProdPvt % rxSize
		q.rxSlot[slot] = int32(b)
		q.rx.PutRequest(&netif.RxRequest{ID: uint16(slot), Gref: q.rxBuf[b].ref})
	}
	if q.rx.Push() {
		_ = q.l.cfg.Events.Notify(q.rxPort)
	}
}

// drainRx delivers every complete packet on the RX ring and reports whether there was any.
func (q *queue) drainRx() (bool, error) {
	recv := q.l.receiver()
	any := false
	for {
		q.rxMu.Lock()
		n, err := q.collect()
		more := false
		if err == nil && n < rxBatch {
			more = q.rx.FinalCheck()
		}
		if err != nil {
			// The frames collected before the violation are not delivered: take them back
			// so that their pages are revoked with the rest.
			for i := range n {
				_, _, rec := splitCookie(q.frames[i].Cookie)
				q.unlend(rec)
			}
		}
		q.rxMu.Unlock()
		if err != nil {
			return any, err
		}
		if n > 0 {
			any = true
			q.deliver(recv, q.frames[:n])
		}
		if n < rxBatch && !more {
			return any, nil
		}
	}
}

// deliver counts frames and lends them to recv (nil before Start: they stay lent until the
// connection is torn down).
func (q *queue) deliver(recv link.Receiver, frames []link.Frame) {
	defer trace.StartRegion(context.Background(), traceRx).End()
	bytes := 0
	for i := range frames {
		bytes += frames[i].Len()
	}
	q.l.counters.Received(len(frames), bytes)
	q.c.lent.Add(int64(len(frames)))
	if recv != nil {
		q.l.deliverMu.Lock()
		recv.DeliverFrames(frames)
		q.l.deliverMu.Unlock()
	}
}

// collect consumes responses into up to rxBatch frames in q.frames and re-posts the buffers it
// freed (rxMu held). Packets with an errored slot, a length out of bounds or offload metadata
// that cannot be placed are dropped and counted; any violation of the protocol is an error.
func (q *queue) collect() (int, error) {
	rp, err := q.rx.Produced()
	if err != nil {
		return 0, backendErr("RX: illegal number of responses: %w", err)
	}
	n := 0
	for q.rx.RspCons != rp && n < rxBatch && len(q.recFree) > 0 {
		rec := q.recFree[len(q.recFree)-1]
		p := rxPacket{next: q.rx.RspCons, prod: rp, f: &q.frames[n], r: &q.lent[rec]}
		p.r.n = 0
		p.f.Segments = q.segs[n][:0]
		p.f.Offload = link.Offload{}
		if err := q.gather(&p); err != nil {
			return n, err
		}
		q.rx.RspCons = p.next
		if !q.l.acceptRx(&p) {
			q.giveBack(p.r)
			q.l.counters.RxDropped(1)
			continue
		}
		q.lend(p.f, rec)
		n++
	}
	q.refill()
	return n, nil
}

// gather consumes the slots of the packet at p.next: data slots chained with
// NETRXF_more_data and, after the first, the extra-info slots it announces.
func (q *queue) gather(p *rxPacket) error {
	for first := true; ; first = false {
		rsp, b, err := q.nextResponse(p, true, "packet needs more slots than produced")
		if err != nil {
			return err
		}
		if err := q.addData(p, b, &rsp); err != nil {
			return err
		}
		if first {
			p.flags = rsp.Flags
			if rsp.Flags&netif.RxfExtraInfo != 0 {
				if err := q.gatherExtras(p); err != nil {
					return err
				}
			}
		}
		if rsp.Flags&netif.RxfMoreData == 0 {
			return nil
		}
	}
}

// nextResponse copies out the response at p.next, takes the buffer posted in its slot and
// advances p.next. A data slot's id must match the slot; short names the violation of a packet
// that runs past rsp_prod.
func (q *queue) nextResponse(p *rxPacket, data bool, short string) (netif.RxResponse, uint16, error) {
	if p.next == p.prod {
		return netif.RxResponse{}, 0, backendErr("RX: %s", short)
	}
	rsp := q.rx.Response(p.next)
	b, err := q.takeSlot(p.next, rsp.ID, data)
	if err != nil {
		return rsp, 0, err
	}
	p.next++
	return rsp, b, nil
}

// takeSlot returns the buffer posted in ring slot i and, for a data slot, checks the
// response's id against it (an extra-info slot's first bytes are its type and flags).
func (q *queue) takeSlot(i uint32, id uint16, data bool) (uint16, error) {
	slot := i % rxSize
	b := q.rxSlot[slot]
	if b < 0 || (data && id != uint16(slot)) {
		return 0, backendErr("RX: bad response id %d in slot %d", id, slot)
	}
	q.rxSlot[slot] = -1
	return uint16(b), nil
}

// addData records data slot buffer b in the packet and appends the slot's bytes to its frame;
// an error status marks the packet errored. The packet may use maxRxSlots slots, or one fewer
// when its first slot holds more than rxCopyThreshold bytes, and data must lie within the page.
func (q *queue) addData(p *rxPacket, b uint16, rsp *netif.RxResponse) error {
	r, f := p.r, p.f
	if int(r.n) == maxRxSlots || (int(r.n) == netif.NrSlotsMin && len(f.Segments) > 0 && len(f.Segments[0]) > rxCopyThreshold) {
		q.rxFree = append(q.rxFree, b)
		return backendErr("RX: too many slots in one packet")
	}
	r.bufs[r.n] = b
	r.n++
	switch {
	case rsp.Status < 0:
		p.errored = true
	case int(rsp.Offset)+int(rsp.Status) > xenfront.PageSize:
		return backendErr("RX: offset %d + size %d beyond the page", rsp.Offset, rsp.Status)
	default:
		p.total += int(rsp.Status)
		f.Segments = append(f.Segments, q.rxBuf[b].page[rsp.Offset:int(rsp.Offset)+int(rsp.Status)])
	}
	return nil
}

// gatherExtras consumes the extra-info slots after a packet's first slot; their buffers go
// straight back to the free list. Each must have a known type, and there can be at most one
// per type; a GSO extra is checked and kept.
func (q *queue) gatherExtras(p *rxPacket) error {
	for k := 0; ; k++ {
		rsp, b, err := q.nextResponse(p, false, "missing extra info")
		if err != nil {
			return err
		}
		q.rxFree = append(q.rxFree, b)
		e := netif.RxExtra(&rsp)
		if e.Type == netif.ExtraTypeNone || e.Type >= netif.ExtraTypeMax || k >= netif.ExtraTypeMax {
			return backendErr("RX: invalid extra type %d", e.Type)
		}
		if e.Type == netif.ExtraTypeGSO {
			if err := checkGSOExtra(e); err != nil {
				return err
			}
			p.gso, p.hasGSO = e, true
		}
		if e.Flags&netif.ExtraFlagMore == 0 {
			return nil
		}
	}
}

// checkGSOExtra checks a GSO extra from the back end: a non-zero MSS and a TCP type.
func checkGSOExtra(e netif.ExtraInfo) error {
	mss, t := e.GSO()
	if mss == 0 {
		return backendErr("RX: GSO size must not be zero")
	}
	if t != netif.GSOTypeTCPv4 && t != netif.GSOTypeTCPv6 {
		return backendErr("RX: bad GSO type %d", t)
	}
	return nil
}

// maxRxLen is the longest frame the link receives: the MTU with an Ethernet header and a VLAN
// tag, or a whole GSO frame when receive offload was negotiated.
func (l *Link) maxRxLen() int {
	if l.features.Has(link.FeatureRxGRO) {
		return link.MaxGSOSize
	}
	return mtu + link.EthernetHeaderLen + 4
}

// acceptRx decides whether a gathered packet is delivered and sets its frame's offload
// metadata: a packet with an errored slot, a length out of bounds or offload metadata that
// cannot be placed is dropped.
func (l *Link) acceptRx(p *rxPacket) bool {
	if p.errored || p.total < link.EthernetHeaderLen || p.total > l.maxRxLen() {
		return false
	}
	return rxOffload(p)
}

// rxOffload maps the packet's NETRXF_* flags and GSO extra to its frame's Offload, with
// checksum offsets recomputed from the headers as Linux's skb_checksum_setup does; false drops
// the frame.
func rxOffload(p *rxPacket) bool {
	f := p.f
	if p.flags&netif.RxfCsumBlank == 0 && !p.hasGSO {
		if p.flags&netif.RxfDataValidated != 0 {
			f.Offload.Flags = link.FlagDataValid
		}
		return true
	}
	h, ok := link.LocateHeaders(f.Segments[0])
	if !ok || (p.hasGSO && h.Proto != link.ProtoTCP) {
		return false
	}
	f.Offload = link.Offload{Flags: link.FlagNeedsCsum, CsumStart: uint16(h.L4), CsumOffset: uint16(h.CsumOffset())}
	if p.hasGSO {
		mss, t := p.gso.GSO()
		if p.total-h.Len > int(mss) {
			f.Offload.GSOType = link.GSOTCPv4
			if t == netif.GSOTypeTCPv6 {
				f.Offload.GSOType = link.GSOTCPv6
			}
			f.Offload.GSOSize = mss
			f.Offload.HdrLen = uint16(h.Len)
		}
	}
	return true
}

// lend records the buffers of record rec, the top of recFree, as lent to the receiver with
// frame f, and stamps f's cookie (rxMu held).
func (q *queue) lend(f *link.Frame, rec uint16) {
	r := &q.lent[rec]
	r.used = true
	q.recFree = q.recFree[:len(q.recFree)-1]
	for k := range r.n {
		q.rxLent[r.bufs[k]] = true
	}
	f.Cookie = makeCookie(q.c.gen, q.idx, rec)
}

// unlend undoes lend: record rec is free again and its buffers are no longer lent, though
// still recorded in it (rxMu held).
func (q *queue) unlend(rec uint32) *lentRec {
	r := &q.lent[rec]
	r.used = false
	q.recFree = append(q.recFree, uint16(rec))
	for k := range r.n {
		q.rxLent[r.bufs[k]] = false
	}
	return r
}

// giveBack returns a record's buffers to the free list (rxMu held).
func (q *queue) giveBack(r *lentRec) {
	for k := range r.n {
		q.rxFree = append(q.rxFree, r.bufs[k])
	}
	r.n = 0
}

// releaseFrame takes back a lent frame's buffers: onto the ring, or, once the connection is
// gone, back to the grant table. It reports whether that was a torn-down connection's last
// frame.
func (q *queue) releaseFrame(rec uint32) bool {
	q.rxMu.Lock()
	defer q.rxMu.Unlock()
	if rec >= rxSize || !q.lent[rec].used {
		return false // not lent: a receiver bug, ignored rather than corrupting the pool
	}
	r := q.unlend(rec)
	last := q.c.lent.Add(-1) == 0
	if q.rxStopped {
		for k := range r.n {
			b := r.bufs[k]
			q.l.endGrant(q.rxBuf[b].ref)
			q.rxBuf[b] = buffer{}
		}
		r.n = 0
		return last
	}
	q.giveBack(r)
	q.refill()
	return false
}

// makeCookie encodes a lent frame's connection generation, queue and record in its cookie.
func makeCookie(gen uint16, q int, rec uint16) uint64 {
	return uint64(gen)<<48 | uint64(q)<<32 | uint64(rec)
}

// splitCookie decodes a frame cookie made by makeCookie.
func splitCookie(c uint64) (gen uint16, q uint16, rec uint32) {
	return uint16(c >> 48), uint16(c >> 32), uint32(c)
}
