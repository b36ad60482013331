package xentest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
	"github.com/unikit/unikit/xenfront/ring"
)

// beQueue is the back end of one queue pair: mapped rings, bound ports, a frame buffer.
type beQueue struct {
	nb             *Netback
	idx            int
	txMap, rxMap   *Mapping
	txPort, rxPort xenfront.Port
	split          bool

	txMu    sync.Mutex
	tx      *netif.TxBackRing
	txBuf   []byte
	txFrame [1]link.Frame
	txSeg   [1][]byte

	rxMu   sync.Mutex
	rx     *netif.RxBackRing
	rxKick chan struct{}
	// rxJumped is set once the RX producer index was published out of range (ProducerJump):
	// the ring is left that way, as a later push of the true index would hide the jump
	// from a front end that had not looked yet. Guarded by rxMu.
	rxJumped bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// newQueue maps queue i's rings and binds its event channels from the keys under prefix.
func (nb *Netback) newQueue(i int, prefix string) (*beQueue, error) {
	fe := nb.cfg.Frontend
	q := &beQueue{nb: nb, idx: i, txBuf: make([]byte, link.MaxGSOSize), rxKick: make(chan struct{}, 1)}
	q.ctx, q.cancel = context.WithCancel(nb.ctx)
	txRef, err := nb.readKey(prefix+"tx-ring-ref", 1<<32-1)
	if err != nil {
		return nil, err
	}
	rxRef, err := nb.readKey(prefix+"rx-ring-ref", 1<<32-1)
	if err != nil {
		return nil, err
	}
	if q.txMap, err = nb.dom.Map(fe, xenfront.GrantRef(txRef), true); err != nil {
		return nil, fmt.Errorf("map TX ring: %w", err)
	}
	if q.rxMap, err = nb.dom.Map(fe, xenfront.GrantRef(rxRef), true); err != nil {
		q.close()
		return nil, fmt.Errorf("map RX ring: %w", err)
	}
	q.tx, _ = ring.NewBack[netif.TxRequest, netif.TxResponse](q.txMap.Page)
	q.rx, _ = ring.NewBack[netif.RxRequest, netif.RxResponse](q.rxMap.Page)
	ev := nb.dom.EventChannels()
	bind := func(key string) (xenfront.Port, error) {
		p, err := nb.readKey(prefix+key, 1<<32-1)
		if err != nil {
			return 0, err
		}
		return ev.BindInterdomain(fe, xenfront.Port(p))
	}
	if !nb.cfg.NoSplit {
		if q.txPort, err = bind("event-channel-tx"); err == nil {
			q.split = true
			if q.rxPort, err = bind("event-channel-rx"); err != nil {
				q.close()
				return nil, err
			}
			return q, nil
		}
	}
	if q.txPort, err = bind("event-channel"); err != nil {
		q.close()
		return nil, err
	}
	q.rxPort = q.txPort
	return q, nil
}

func (q *beQueue) start() {
	if q.split {
		q.wg.Add(2)
		go q.loop(q.txPort, true, false)
		go q.loop(q.rxPort, false, true)
		return
	}
	q.wg.Add(1)
	go q.loop(q.txPort, true, true)
}

// close stops the queue's goroutines, closes its ports and unmaps its rings.
func (q *beQueue) close() {
	q.once.Do(func() {
		q.cancel()
		q.wg.Wait()
		ev := q.nb.dom.EventChannels()
		if q.txPort != 0 {
			_ = ev.Close(q.txPort)
		}
		if q.rxPort != 0 && q.rxPort != q.txPort {
			_ = ev.Close(q.rxPort)
		}
		// Take the locks so no DeliverFrames is still writing through the mapping.
		q.rxMu.Lock()
		if q.rxMap != nil {
			q.rxMap.Unmap()
		}
		q.rxMu.Unlock()
		q.txMu.Lock()
		if q.txMap != nil {
			q.txMap.Unmap()
		}
		q.txMu.Unlock()
	})
}

func (q *beQueue) loop(port xenfront.Port, doTx, doRx bool) {
	defer q.wg.Done()
	ev := q.nb.dom.EventChannels()
	for {
		if doTx {
			if err := q.processTx(); err != nil {
				q.nb.log.Warn("netback: bad TX request; queue stopped", "err", err)
				return
			}
		}
		if doRx {
			select {
			case q.rxKick <- struct{}{}:
			default:
			}
		}
		if err := ev.Wait(q.ctx, port); err != nil {
			return
		}
	}
}

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

// txPacket handles the packet starting at ReqCons (txMu held).
func (q *beQueue) txPacket(rp uint32) error {
	nb, fe := q.nb, q.nb.cfg.Frontend
	i := q.tx.ReqCons
	first := q.tx.Request(i)
	i++
	var ids [netif.NrSlotsMin + 1]netif.TxRequest
	reqs := ids[:0]
	reqs = append(reqs, first)
	extras := 0
	var off link.Offload
	if first.Flags&netif.TxfExtraInfo != 0 {
		for {
			if i == rp {
				return fmt.Errorf("%w: missing extra info", errFrontend)
			}
			r := q.tx.Request(i)
			i++
			extras++
			e := netif.TxExtra(&r)
			if e.Type == netif.ExtraTypeGSO {
				mss, t := e.GSO()
				off.GSOSize = mss
				switch t {
				case netif.GSOTypeTCPv4:
					off.GSOType = link.GSOTCPv4
				case netif.GSOTypeTCPv6:
					off.GSOType = link.GSOTCPv6
				}
			}
			if e.Flags&netif.ExtraFlagMore == 0 || extras > netif.ExtraTypeMax {
				break
			}
		}
	}
	last := first
	for last.Flags&netif.TxfMoreData != 0 {
		if i == rp {
			return fmt.Errorf("%w: packet runs past req_prod", errFrontend)
		}
		if len(reqs) > netif.NrSlotsMin {
			return fmt.Errorf("%w: too many slots", errFrontend)
		}
		last = q.tx.Request(i)
		i++
		reqs = append(reqs, last)
	}
	q.tx.ReqCons = i
	// The first slot's own length is the total minus the other slots (netback's
	// xenvif_count_requests).
	rest := 0
	for _, r := range reqs[1:] {
		rest += int(r.Size)
	}
	status := int16(netif.RspOkay)
	total := int(first.Size)
	if rest > total {
		status = netif.RspError
	}
	pos := 0
	for k, r := range reqs {
		if status != netif.RspOkay {
			break
		}
		n := int(r.Size)
		if k == 0 {
			n = total - rest
		}
		if int(r.Offset)+n > xenfront.PageSize {
			status = netif.RspError
			break
		}
		if err := nb.dom.CopyFrom(fe, r.Gref, int(r.Offset), q.txBuf[pos:pos+n]); err != nil {
			status = netif.RspError
			break
		}
		pos += n
	}
	mis := nb.misbehaveNow(TxBadID | TxRepeatID | TxUnknownID | TxKeepGrant)
	for k, r := range reqs {
		rsp := netif.TxResponse{ID: r.ID, Status: status}
		if mis && k == 0 {
			switch {
			case nb.cfg.Misbehave&TxBadID != 0:
				rsp.ID = 300
			case nb.cfg.Misbehave&TxUnknownID != 0:
				rsp.ID = (r.ID + txRingHalf) % 256
			case nb.cfg.Misbehave&TxKeepGrant != 0:
				if m, err := nb.dom.Map(fe, r.Gref, false); err == nil {
					nb.mu.Lock()
					nb.maps = append(nb.maps, m)
					nb.mu.Unlock()
				}
			}
		}
		q.tx.PutResponse(&rsp)
		if k == 0 {
			for range extras {
				q.tx.PutResponse(&netif.TxResponse{ID: 0xffff, Status: netif.RspNull})
			}
		}
		if mis && k == 0 && nb.cfg.Misbehave&TxRepeatID != 0 {
			q.tx.PutResponse(&rsp)
		}
	}
	if status != netif.RspOkay {
		return nil
	}
	if first.Flags&netif.TxfCsumBlank != 0 || off.GSOType != link.GSONone {
		if h, ok := link.LocateHeaders(q.txBuf[:pos]); ok {
			off.Flags = link.FlagNeedsCsum
			off.CsumStart, off.CsumOffset = uint16(h.L4), uint16(h.CsumOffset())
			off.HdrLen = uint16(h.Len)
		} else {
			return nil // a checksum the back end cannot place: dropped like a bad packet
		}
	} else if first.Flags&netif.TxfDataValidated != 0 {
		off.Flags = link.FlagDataValid
	}
	if off.GSOType == link.GSONone {
		off.HdrLen = 0
	}
	q.txSeg[0] = q.txBuf[:pos]
	q.txFrame[0] = link.Frame{Segments: q.txSeg[:], Offload: off}
	_, _ = nb.link.Transmit(q.txFrame[:])
	q.txSeg[0] = nil
	return nil
}

// receive copies one frame from the outer link into the front end's posted RX buffers
// (netback's xenvif_rx_action), waiting briefly for buffers.
func (q *beQueue) receive(f *link.Frame) {
	nb, fe := q.nb, q.nb.cfg.Frontend
	size := f.Len()
	nb.mu.Lock()
	sg, gso := nb.feSG, nb.feGSO
	nb.mu.Unlock()
	hasGSO := f.Offload.GSOType != link.GSONone
	if (hasGSO && !gso) || (size > xenfront.PageSize && !sg) || size > link.MaxGSOSize {
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
	var deadline *time.Timer
	for {
		if q.ctx.Err() != nil || q.rxJumped {
			return
		}
		rp, err := q.rx.Produced()
		if err != nil {
			return
		}
		if int(rp-q.rx.ReqCons) >= need {
			break
		}
		if q.rx.FinalCheck() {
			continue
		}
		if deadline == nil {
			deadline = time.NewTimer(rxWait)
			defer deadline.Stop()
		}
		q.rxMu.Unlock()
		select {
		case <-q.rxKick:
		case <-deadline.C:
			q.rxMu.Lock()
			return
		case <-q.ctx.Done():
		}
		q.rxMu.Lock()
	}
	performed = true
	var flags uint16
	switch {
	case f.Offload.Flags&link.FlagNeedsCsum != 0:
		flags = netif.RxfCsumBlank | netif.RxfDataValidated
	case f.Offload.Flags&link.FlagDataValid != 0:
		flags = netif.RxfDataValidated
	}
	if mis&RxTooManySlots != 0 {
		for k := range need {
			req := q.rx.Request(q.rx.ReqCons)
			q.rx.ReqCons++
			rsp := netif.RxResponse{ID: req.ID, Status: 1, Flags: netif.RxfMoreData}
			if k == need-1 {
				rsp.Flags = 0
			}
			q.rx.PutResponse(&rsp)
		}
		q.push()
		return
	}
	seg, segOff := 0, 0
	for s := range slots {
		req := q.rx.Request(q.rx.ReqCons)
		q.rx.ReqCons++
		n := min(size-s*xenfront.PageSize, xenfront.PageSize)
		// Copy the slot's bytes from the frame's segments with grant copies.
		status := int16(n)
		done := 0
		for done < n && seg < len(f.Segments) {
			k := min(n-done, len(f.Segments[seg])-segOff)
			if err := nb.dom.CopyTo(fe, req.Gref, done, f.Segments[seg][segOff:segOff+k]); err != nil {
				status = netif.RspError
				break
			}
			done += k
			segOff += k
			if segOff == len(f.Segments[seg]) {
				seg, segOff = seg+1, 0
			}
		}
		rsp := netif.RxResponse{ID: req.ID, Status: status}
		if s == 0 {
			rsp.Flags = flags
			if hasGSO {
				rsp.Flags |= netif.RxfExtraInfo
			}
			switch {
			case mis&RxBadOffset != 0:
				rsp.Offset = xenfront.PageSize - 10
			case mis&RxBadSize != 0:
				rsp.Status = xenfront.PageSize + 100
			case mis&RxBadID != 0:
				rsp.ID = req.ID + 1
			}
		}
		if s < slots-1 {
			rsp.Flags |= netif.RxfMoreData
		}
		if s == 0 && mis&RxBadExtra != 0 && !hasGSO {
			rsp.Flags |= netif.RxfExtraInfo
		}
		q.rx.PutResponse(&rsp)
		if s == 0 && (hasGSO || mis&RxBadExtra != 0) {
			ereq := q.rx.Request(q.rx.ReqCons)
			q.rx.ReqCons++
			t := uint8(netif.GSOTypeTCPv4)
			if f.Offload.GSOType&^link.GSOECN == link.GSOTCPv6 {
				t = netif.GSOTypeTCPv6
			}
			mss := f.Offload.GSOSize
			if mis&RxBadExtra != 0 {
				mss = 0
			}
			_ = ereq // an extra slot uses up a request; its response is the extra itself
			ersp := netif.RxResponseFromExtra(netif.GSOExtra(mss, t))
			q.rx.PutResponse(&ersp)
		}
	}
	if mis&ProducerJump != 0 {
		q.rxJumped = true
		q.rx.SetResponseProducer(q.rx.RspProdPvt + 1000)
		_ = nb.dom.EventChannels().Notify(q.rxPort)
		return
	}
	q.push()
}

func (q *beQueue) push() {
	if q.rx.Push() {
		_ = q.nb.dom.EventChannels().Notify(q.rxPort)
	}
}

// InjectRx writes rsps, unchecked, into queue qi's next RX response slots and publishes the
// response producer index jump entries further than that: a fuzzer's malicious back end.
// Consumed reports when the front end has taken them.
func (nb *Netback) InjectRx(qi int, rsps []netif.RxResponse, jump uint32) error {
	q, err := nb.queue(qi)
	if err != nil {
		return err
	}
	q.rxMu.Lock()
	for i := range rsps {
		q.rx.PutResponse(&rsps[i])
	}
	q.rx.RspProdPvt += jump
	q.rx.ReqCons = q.rx.RspProdPvt
	q.rx.SetResponseProducer(q.rx.RspProdPvt)
	q.rxMu.Unlock()
	// The front end may see the responses before the event, fail and close the channel.
	_ = nb.dom.EventChannels().Notify(q.rxPort)
	return nil
}

// InjectTx is InjectRx for the TX ring.
func (nb *Netback) InjectTx(qi int, rsps []netif.TxResponse, jump uint32) error {
	q, err := nb.queue(qi)
	if err != nil {
		return err
	}
	q.txMu.Lock()
	for i := range rsps {
		q.tx.PutResponse(&rsps[i])
	}
	q.tx.RspProdPvt += jump
	q.tx.SetResponseProducer(q.tx.RspProdPvt)
	q.txMu.Unlock()
	_ = nb.dom.EventChannels().Notify(q.txPort)
	return nil
}

// Consumed reports whether the front end has consumed every response on queue qi's rings and
// re-armed its event index (rsp_event = rsp_prod + 1), as the ring protocol shows it.
func (nb *Netback) Consumed(qi int) bool {
	q, err := nb.queue(qi)
	if err != nil {
		return false
	}
	q.rxMu.Lock()
	rx := q.rx.ResponseEvent() == q.rx.RspProdPvt+1
	q.rxMu.Unlock()
	q.txMu.Lock()
	tx := q.tx.ResponseEvent() == q.tx.RspProdPvt+1 || q.tx.RspProdPvt == 0
	q.txMu.Unlock()
	return rx && tx
}

func (nb *Netback) queue(i int) (*beQueue, error) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if i < 0 || i >= len(nb.queues) {
		return nil, errors.New("xentest: no such queue, or not connected")
	}
	return nb.queues[i], nil
}
