package xentest

import (
	"errors"
	"fmt"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
)

// txRingHalf shifts a TX id to one the front end has no request for: with few packets in
// flight, the id half a ring away is free.
const txRingHalf = 128

var errFrontend = errors.New("xentest: front end broke the netif protocol")

// processTx consumes TX requests, copies each packet out of the front end's grants and sends
// it on the outer link (netback's xenvif_tx_build_gops and xenvif_tx_submit).
func (q *beQueue) processTx() error {
	q.txMu.Lock()
	defer q.txMu.Unlock()
	nb := q.nb
	for {
		rp, err := q.tx.Produced()
		if err != nil {
			return fmt.Errorf("%w: %w", errFrontend, err)
		}
		for q.tx.ReqCons != rp {
			if err := q.txPacket(rp); err != nil {
				return err
			}
		}
		if q.tx.Push() {
			_ = nb.dom.EventChannels().Notify(q.txPort)
		}
		if !q.tx.FinalCheck() {
			return nil
		}
	}
}

// txPacket handles the packet starting at ReqCons (txMu held): it reads its requests, copies
// its data out of the front end's grants, answers every request and, when all went well, sends
// the packet on the outer link.
func (q *beQueue) txPacket(rp uint32) error {
	reqs, extras, off, err := q.readTxPacket(rp)
	if err != nil {
		return err
	}
	size, status := q.copyTxData(reqs)
	q.respondTx(reqs, extras, status)
	if status == netif.RspOkay {
		q.forwardTx(reqs[0].Flags, off, size)
	}
	return nil
}

// readTxPacket consumes the packet's requests: the first, the extra-info slots it announces
// (a GSO extra becomes offload metadata) and the data slots chained with NETTXF_more_data. It
// returns the data requests, in q.txReqs.
func (q *beQueue) readTxPacket(rp uint32) ([]netif.TxRequest, int, link.Offload, error) {
	i := q.tx.ReqCons
	first := q.tx.Request(i)
	i++
	reqs := append(q.txReqs[:0], first)
	extras := 0
	var off link.Offload
	if first.Flags&netif.TxfExtraInfo != 0 {
		for {
			if i == rp {
				return nil, 0, off, fmt.Errorf("%w: missing extra info", errFrontend)
			}
			r := q.tx.Request(i)
			i++
			extras++
			e := netif.TxExtra(&r)
			if e.Type == netif.ExtraTypeGSO {
				setGSO(&off, e)
			}
			if e.Flags&netif.ExtraFlagMore == 0 || extras > netif.ExtraTypeMax {
				break
			}
		}
	}
	last := first
	for last.Flags&netif.TxfMoreData != 0 {
		if i == rp {
			return nil, 0, off, fmt.Errorf("%w: packet runs past req_prod", errFrontend)
		}
		if len(reqs) > netif.NrSlotsMin {
			return nil, 0, off, fmt.Errorf("%w: too many slots", errFrontend)
		}
		last = q.tx.Request(i)
		i++
		reqs = append(reqs, last)
	}
	q.tx.ReqCons = i
	return reqs, extras, off, nil
}

// setGSO copies a GSO extra's MSS and TCP type into off.
func setGSO(off *link.Offload, e netif.ExtraInfo) {
	mss, t := e.GSO()
	off.GSOSize = mss
	switch t {
	case netif.GSOTypeTCPv4:
		off.GSOType = link.GSOTCPv4
	case netif.GSOTypeTCPv6:
		off.GSOType = link.GSOTCPv6
	}
}

// copyTxData copies the packet's data out of the front end's grants into q.txBuf with grant
// copies and returns its length and the status of the whole packet: RspError for sizes or
// grants that do not add up.
func (q *beQueue) copyTxData(reqs []netif.TxRequest) (int, int16) {
	nb, fe := q.nb, q.nb.cfg.Frontend
	// The first slot's own length is the total minus the other slots (netback's
	// xenvif_count_requests).
	rest := 0
	for _, r := range reqs[1:] {
		rest += int(r.Size)
	}
	total := int(reqs[0].Size)
	if rest > total {
		return 0, netif.RspError
	}
	pos := 0
	for k, r := range reqs {
		n := int(r.Size)
		if k == 0 {
			n = total - rest
		}
		if int(r.Offset)+n > xenfront.PageSize {
			return pos, netif.RspError
		}
		if err := nb.dom.CopyFrom(fe, r.Gref, int(r.Offset), q.txBuf[pos:pos+n]); err != nil {
			return pos, netif.RspError
		}
		pos += n
	}
	return pos, netif.RspOkay
}

// respondTx answers each data request with status, and each extra-info slot with a NULL
// response after the first; on the packet chosen to misbehave, the first response breaks the
// protocol as the configured Misbehaviour says.
func (q *beQueue) respondTx(reqs []netif.TxRequest, extras int, status int16) {
	nb := q.nb
	mis := nb.misbehaveNow(TxBadID | TxRepeatID | TxUnknownID | TxKeepGrant)
	// TxRepeatID holds back the chosen packet's responses until the next packet, whose
	// request ids then differ from the held one's (that is still active), and answers the
	// next packet's first request with the held packet's id: the front end sees a response
	// for a request it has just completed. Every response lands in a slot the back end owns;
	// an extra one after the last would land where the front end may be writing its next
	// request.
	hold := mis && nb.cfg.Misbehave&TxRepeatID != 0
	if hold && len(reqs)+extras > len(q.txHeld) {
		hold, mis = false, false
		nb.unclaimMisbehaviour()
	}
	repeat, repeating := uint16(0), false
	if q.txHeldN > 0 {
		for i := range q.txHeld[:q.txHeldN] {
			q.tx.PutResponse(&q.txHeld[i])
		}
		repeat, repeating = q.txHeld[0].ID, true
		q.txHeldN = 0
	}
	put := func(rsp netif.TxResponse) {
		if hold {
			q.txHeld[q.txHeldN] = rsp
			q.txHeldN++
			return
		}
		q.tx.PutResponse(&rsp)
	}
	for k, r := range reqs {
		rsp := netif.TxResponse{ID: r.ID, Status: status}
		if k == 0 && repeating {
			rsp.ID = repeat
		}
		if mis && k == 0 {
			q.misbehaveTx(&rsp, r)
		}
		put(rsp)
		if k == 0 {
			for range extras {
				put(netif.TxResponse{ID: 0xffff, Status: netif.RspNull})
			}
		}
	}
}

// misbehaveTx breaks the response to request r: an id outside the ring, an id with no
// request outstanding, or a grant mapped and never unmapped (TxRepeatID is respondTx's).
func (q *beQueue) misbehaveTx(rsp *netif.TxResponse, r netif.TxRequest) {
	nb := q.nb
	switch {
	case nb.cfg.Misbehave&TxBadID != 0:
		rsp.ID = 300
	case nb.cfg.Misbehave&TxUnknownID != 0:
		rsp.ID = (r.ID + txRingHalf) % 256
	case nb.cfg.Misbehave&TxKeepGrant != 0:
		if m, err := nb.dom.Map(nb.cfg.Frontend, r.Gref, false); err == nil {
			nb.mu.Lock()
			nb.maps = append(nb.maps, m)
			nb.mu.Unlock()
		}
	}
}

// forwardTx sends the size bytes in q.txBuf on the outer link with the offload the front end
// asked for (flags of the first request, GSO from its extra). A checksum the back end cannot
// place, or an IPv6 one without feature-ipv6-csum-offload, drops the packet, as a bad packet
// is.
func (q *beQueue) forwardTx(flags uint16, off link.Offload, size int) {
	if flags&netif.TxfCsumBlank != 0 || off.GSOType != link.GSONone {
		h, ok := link.LocateHeaders(q.txBuf[:size])
		if !ok || h.IPv6 && q.nb.cfg.NoIPv6Csum {
			return
		}
		off.Flags = link.FlagNeedsCsum
		off.CsumStart, off.CsumOffset = uint16(h.L4), uint16(h.CsumOffset())
		off.HdrLen = uint16(h.Len)
	} else if flags&netif.TxfDataValidated != 0 {
		off.Flags = link.FlagDataValid
	}
	if off.GSOType == link.GSONone {
		off.HdrLen = 0
	}
	q.txSeg[0] = q.txBuf[:size]
	q.txFrame[0] = link.Frame{Segments: q.txSeg[:], Offload: off}
	_, _ = q.nb.link.Transmit(q.txFrame[:])
	q.txSeg[0] = nil
}
