package xentest

import (
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
)

// receive copies one frame from the outer link into the front end's posted RX buffers
// (netback's xenvif_rx_action), waiting briefly for buffers. A frame the front end did not
// negotiate the features for is dropped.
func (q *beQueue) receive(f *link.Frame) {
	nb := q.nb
	size := f.Len()
	hasGSO := f.Offload.GSOType != link.GSONone
	if !nb.frontendTakes(f, size) {
		return
	}
	slots := (size + xenfront.PageSize - 1) / xenfront.PageSize
	need := slots
	if hasGSO {
		need++
	}
	mis := Misbehaviour(0)
	if nb.misbehaveNow(RxBadOffset | RxBadSize | RxTooManySlots | RxBadID | RxBadExtra | ProducerJump) {
		mis = nb.cfg.Misbehave
	}
	if mis&RxTooManySlots != 0 {
		need = netif.NrSlotsMin + 3
	}
	// A frame dropped while waiting for buffers gives its misbehaviour back to the next one:
	// otherwise a slow front end (a loaded machine) would never see it.
	performed := false
	defer func() {
		if mis != 0 && !performed {
			nb.unclaimMisbehaviour()
		}
	}()
	q.rxMu.Lock()
	defer q.rxMu.Unlock()
	f = q.completeForFrontend(f, size)
	if !q.awaitRxBuffers(need) {
		return
	}
	performed = true
	if mis&RxTooManySlots != 0 {
		q.putTooManySlots(need)
		return
	}
	q.putFrame(f, size, slots, mis)
	if mis&ProducerJump != 0 {
		q.jumpProducer()
		return
	}
	q.pushRx()
}

// frontendTakes reports whether the front end negotiated what frame f of size bytes needs:
// scatter-gather beyond a page, GSO of its type for a GSO frame.
func (nb *Netback) frontendTakes(f *link.Frame, size int) bool {
	nb.mu.Lock()
	sg, gso, gso6 := nb.feSG, nb.feGSO, nb.feGSO6
	nb.mu.Unlock()
	switch f.Offload.GSOType &^ link.GSOECN {
	case link.GSONone:
	case link.GSOTCPv6:
		if !gso6 {
			return false
		}
	default:
		if !gso {
			return false
		}
	}
	return !(size > xenfront.PageSize && !sg) && size <= link.MaxGSOSize
}

// completeForFrontend returns f, or, for an IPv6 frame with a pending checksum and a front end
// that does not take those, a copy with the checksum completed in the queue's scratch frame
// (rxMu held).
func (q *beQueue) completeForFrontend(f *link.Frame, size int) *link.Frame {
	q.nb.mu.Lock()
	ipv6Csum := q.nb.feIPv6Csum
	q.nb.mu.Unlock()
	if ipv6Csum || f.Offload.Flags&link.FlagNeedsCsum == 0 || f.Offload.GSOType != link.GSONone ||
		len(f.Segments) == 0 || size > len(q.rxScratch) {
		return f
	}
	b := q.rxScratch[:0]
	for _, s := range f.Segments {
		b = append(b, s...)
	}
	if h, ok := link.LocateHeaders(b); !ok || !h.IPv6 || !link.CompleteChecksum(b, f.Offload) {
		return f
	}
	q.rxScratchSeg[0] = b
	q.rxScratchFrame = link.Frame{Segments: q.rxScratchSeg[:], Offload: link.Offload{Flags: link.FlagDataValid}}
	return &q.rxScratchFrame
}

// awaitRxBuffers waits up to rxWait until the front end has posted need RX requests (rxMu
// held, released while waiting). It reports false when they did not come, the queue is
// closing, or the ring is unusable.
func (q *beQueue) awaitRxBuffers(need int) bool {
	armed := false
	// One deferred call at the top, not one per arming inside the loop: a defer in a loop
	// is a heap record, and this wait is on the per-frame path the allocation tests count.
	defer func() {
		if armed {
			q.rxDeadline.Stop()
		}
	}()
	for {
		if q.ctx.Err() != nil || q.rxJumped {
			return false
		}
		rp, err := q.rx.Produced()
		if err != nil {
			return false
		}
		if int(rp-q.rx.ReqCons) >= need {
			return true
		}
		if q.rx.FinalCheck() {
			continue
		}
		if !armed {
			// One timer for the queue's life: a wait for buffers is on the per-frame path,
			// and the allocation tests count what the model allocates too.
			if q.rxDeadline == nil {
				q.rxDeadline = time.NewTimer(rxWait)
			} else {
				q.rxDeadline.Reset(rxWait)
			}
			armed = true
		}
		q.rxMu.Unlock()
		select {
		case <-q.rxKick:
		case <-q.rxDeadline.C:
			q.rxMu.Lock()
			return false
		case <-q.ctx.Done():
		}
		q.rxMu.Lock()
	}
}

// rxFlags returns the NETRXF_* checksum flags for a frame's offload metadata.
func rxFlags(f *link.Frame) uint16 {
	switch {
	case f.Offload.Flags&link.FlagNeedsCsum != 0:
		return netif.RxfCsumBlank | netif.RxfDataValidated
	case f.Offload.Flags&link.FlagDataValid != 0:
		return netif.RxfDataValidated
	}
	return 0
}

// segCursor is a position in a frame's segments.
type segCursor struct{ seg, off int }

// putFrame answers slots posted requests with the frame's bytes, a page per slot chained with
// NETRXF_more_data, and a GSO extra after the first slot for a GSO frame (rxMu held). On the
// frame chosen to misbehave (mis not 0), the first slot breaks the protocol.
func (q *beQueue) putFrame(f *link.Frame, size, slots int, mis Misbehaviour) {
	hasGSO := f.Offload.GSOType != link.GSONone
	var at segCursor
	for s := range slots {
		req := q.rx.Request(q.rx.ReqCons)
		q.rx.ReqCons++
		n := min(size-s*xenfront.PageSize, xenfront.PageSize)
		rsp := netif.RxResponse{ID: req.ID, Status: q.copyToSlot(req.Gref, f, &at, n)}
		if s == 0 {
			rsp.Flags = rxFlags(f)
			if hasGSO {
				rsp.Flags |= netif.RxfExtraInfo
			}
			misbehaveRx(&rsp, req, mis)
		}
		if s < slots-1 {
			rsp.Flags |= netif.RxfMoreData
		}
		if s == 0 && mis&RxBadExtra != 0 && !hasGSO {
			rsp.Flags |= netif.RxfExtraInfo
		}
		q.rx.PutResponse(&rsp)
		if s == 0 && (hasGSO || mis&RxBadExtra != 0) {
			q.putGSOExtra(f, mis)
		}
	}
}

// copyToSlot copies the frame's next n bytes, from at on, into the front end's page ref with
// grant copies, and returns the slot's status: n, or RspError when a copy failed.
func (q *beQueue) copyToSlot(ref xenfront.GrantRef, f *link.Frame, at *segCursor, n int) int16 {
	done := 0
	for done < n && at.seg < len(f.Segments) {
		k := min(n-done, len(f.Segments[at.seg])-at.off)
		if err := q.nb.dom.CopyTo(q.nb.cfg.Frontend, ref, done, f.Segments[at.seg][at.off:at.off+k]); err != nil {
			return netif.RspError
		}
		done += k
		at.off += k
		if at.off == len(f.Segments[at.seg]) {
			at.seg, at.off = at.seg+1, 0
		}
	}
	return int16(n)
}

// misbehaveRx breaks the first response of a frame as mis says: data past the page, a size
// larger than a page, or the id of another slot (the other RX misbehaviours are putFrame's
// and receive's).
func misbehaveRx(rsp *netif.RxResponse, req netif.RxRequest, mis Misbehaviour) {
	switch {
	case mis&RxBadOffset != 0:
		rsp.Offset = xenfront.PageSize - 10
	case mis&RxBadSize != 0:
		rsp.Status = xenfront.PageSize + 100
	case mis&RxBadID != 0:
		rsp.ID = req.ID + 1
	}
}

// putGSOExtra answers the next request with the frame's GSO extra-info (with MSS 0 for
// RxBadExtra): an extra slot uses up a request, and its response is the extra itself.
func (q *beQueue) putGSOExtra(f *link.Frame, mis Misbehaviour) {
	q.rx.ReqCons++
	t := uint8(netif.GSOTypeTCPv4)
	if f.Offload.GSOType&^link.GSOECN == link.GSOTCPv6 {
		t = netif.GSOTypeTCPv6
	}
	mss := f.Offload.GSOSize
	if mis&RxBadExtra != 0 {
		mss = 0
	}
	ersp := netif.RxResponseFromExtra(netif.GSOExtra(mss, t))
	q.rx.PutResponse(&ersp)
}

// putTooManySlots answers need requests with a one-byte packet chained over all of them
// (RxTooManySlots).
func (q *beQueue) putTooManySlots(need int) {
	for k := range need {
		req := q.rx.Request(q.rx.ReqCons)
		q.rx.ReqCons++
		rsp := netif.RxResponse{ID: req.ID, Status: 1, Flags: netif.RxfMoreData}
		if k == need-1 {
			rsp.Flags = 0
		}
		q.rx.PutResponse(&rsp)
	}
	q.pushRx()
}

// jumpProducer publishes an RX response producer index far beyond the requests posted
// (ProducerJump) and leaves the ring that way.
func (q *beQueue) jumpProducer() {
	q.rxJumped = true
	q.rx.SetResponseProducer(q.rx.RspProdPvt + 1000)
	_ = q.nb.dom.EventChannels().Notify(q.rxPort)
}

// pushRx publishes the queued RX responses and notifies the front end if it asked (rxMu held).
func (q *beQueue) pushRx() {
	if q.rx.Push() {
		_ = q.nb.dom.EventChannels().Notify(q.rxPort)
	}
}
