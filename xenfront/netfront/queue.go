package netfront

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
	"github.com/unikit/unikit/xenfront/ring"
)

const (
	txSize = netif.TxRingSize
	rxSize = netif.RxRingSize
	// rxBatch is how many frames one DeliverFrames call carries at most.
	rxBatch = 64
	// maxRxSlots is the most data slots an RX packet may use: XEN_NETIF_NR_SLOTS_MIN, plus
	// one when the first slot holds at most rxCopyThreshold bytes (Linux xennet_get_responses).
	maxRxSlots      = netif.NrSlotsMin + 1
	rxCopyThreshold = 256
	// maxTxSlots is the most data slots Transmit uses for one frame: 64 KiB + 14 bytes spans
	// 17 pages, within the 18 every back end accepts.
	maxTxSlots = (link.MaxGSOSize + xenfront.PageSize - 1) / xenfront.PageSize
	// spuriousLimit is how many events in a row without work are taken at full speed before
	// each further one is delayed (XSA-391: a back end flooding the front end with events).
	spuriousLimit = 1024
	spuriousDelay = time.Millisecond
)

// buffer is one pre-granted page of a pool.
type buffer struct {
	ref  xenfront.GrantRef
	page []byte
}

// lentRec remembers the RX buffers of one frame lent to the receiver.
type lentRec struct {
	bufs [maxRxSlots]uint16
	n    uint8
	used bool
}

// connection is one incarnation of the rings: everything the handshake set up, torn down when
// the back end goes away.
type connection struct {
	l      *Link
	gen    uint16
	split  bool
	queues []*queue
	seed   maphash.Seed

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lent   atomic.Int64 // frames lent to the receiver
}

// queue is one TX/RX ring pair with its event channel(s) and page pools.
type queue struct {
	c   *connection
	l   *Link
	idx int

	txPort, rxPort       xenfront.Port
	txRingRef, rxRingRef xenfront.GrantRef

	txMu      sync.Mutex
	tx        *netif.TxFrontRing
	txBuf     [txSize]buffer
	txPending [txSize]bool
	txLeaked  [txSize]bool
	txFree    []uint16
	txExtras  int // extra-info slots awaiting their NULL response
	txBroken  bool
	txSpace   chan struct{}

	rxMu    sync.Mutex
	rx      *netif.RxFrontRing
	rxBuf   [rxSize]buffer
	rxSlot  [rxSize]int32 // buffer posted in each ring slot, or -1
	rxLent  [rxSize]bool
	rxFree  []uint16
	lent    [rxSize]lentRec
	recFree []uint16
	dead    bool
	frames  [rxBatch]link.Frame
	segs    [rxBatch][maxRxSlots][]byte
}

// newConnection grants the ring pages and page pools and allocates the event channels.
func (l *Link) newConnection(gen uint16, f backendFeatures, nq int) (*connection, error) {
	c := &connection{l: l, gen: gen, split: f.split, seed: maphash.MakeSeed()}
	c.ctx, c.cancel = context.WithCancel(l.ctx)
	g, ev, be := l.cfg.Grants, l.cfg.Events, l.dev.backendID
	for i := range nq {
		q := &queue{c: c, l: l, idx: i, txSpace: make(chan struct{}, 1),
			txFree: make([]uint16, 0, txSize), rxFree: make([]uint16, 0, rxSize), recFree: make([]uint16, 0, rxSize)}
		c.queues = append(c.queues, q)
		for j := range q.rxSlot {
			q.rxSlot[j] = -1
		}
		var txPage, rxPage []byte
		var err error
		// Grant returns a zeroed page the back end cannot find before its reference is
		// published in xenstore, so initialising it after granting is safe.
		if q.txRingRef, txPage, err = g.Grant(be, false); err != nil {
			c.release()
			return nil, fmt.Errorf("grant TX ring: %w", err)
		}
		ring.Init(txPage)
		q.tx, _ = ring.NewFront[netif.TxRequest, netif.TxResponse](txPage)
		if q.rxRingRef, rxPage, err = g.Grant(be, false); err != nil {
			c.release()
			return nil, fmt.Errorf("grant RX ring: %w", err)
		}
		ring.Init(rxPage)
		q.rx, _ = ring.NewFront[netif.RxRequest, netif.RxResponse](rxPage)
		if q.txPort, err = ev.AllocUnbound(be); err != nil {
			c.release()
			return nil, fmt.Errorf("event channel: %w", err)
		}
		q.rxPort = q.txPort
		if f.split {
			if q.rxPort, err = ev.AllocUnbound(be); err != nil {
				c.release()
				return nil, fmt.Errorf("event channel: %w", err)
			}
		}
		for j := range txSize {
			if q.txBuf[j].ref, q.txBuf[j].page, err = g.Grant(be, true); err != nil {
				c.release()
				return nil, fmt.Errorf("grant TX pool: %w", err)
			}
			q.txFree = append(q.txFree, uint16(j))
		}
		for j := range rxSize {
			if q.rxBuf[j].ref, q.rxBuf[j].page, err = g.Grant(be, false); err != nil {
				c.release()
				return nil, fmt.Errorf("grant RX pool: %w", err)
			}
			q.rxFree = append(q.rxFree, uint16(j))
			q.recFree = append(q.recFree, uint16(j))
		}
	}
	return c, nil
}

// start starts the event goroutines.
func (c *connection) start() {
	for _, q := range c.queues {
		if c.split {
			c.wg.Add(2)
			go q.loop(q.rxPort, true, false)
			go q.loop(q.txPort, false, true)
		} else {
			c.wg.Add(1)
			go q.loop(q.txPort, true, true)
		}
	}
}

// stop ends the goroutines and marks the queues dead, so frames released later give their
// pages back to the grant table instead of the ring.
func (c *connection) stop() {
	c.cancel()
	c.wg.Wait()
	for _, q := range c.queues {
		q.txMu.Lock()
		q.txBroken = true
		q.txMu.Unlock()
		q.rxMu.Lock()
		q.dead = true
		q.rxMu.Unlock()
	}
}

// endGrant revokes a grant; a page the back end still maps is leaked, never reused (XSA-396).
func (l *Link) endGrant(ref xenfront.GrantRef) {
	if ref == 0 {
		return
	}
	if err := l.cfg.Grants.End(ref); err != nil {
		l.log.Error("netfront: page leaked: back end keeps it mapped", "gref", ref, "err", err)
		l.fail(fmt.Errorf("%w: grant %d still in use by the back end: %w", ErrBackend, ref, err))
	}
}

// release revokes every grant and closes the ports; pages of frames still lent are revoked
// when they come back. It reports whether frames are still lent.
func (c *connection) release() bool {
	c.cancel()
	l := c.l
	for _, q := range c.queues {
		q.txMu.Lock()
		for j := range q.txBuf {
			if !q.txLeaked[j] {
				l.endGrant(q.txBuf[j].ref)
			}
			q.txBuf[j] = buffer{}
		}
		l.endGrant(q.txRingRef)
		q.txMu.Unlock()
		q.rxMu.Lock()
		q.dead = true
		for j := range q.rxBuf {
			if !q.rxLent[j] {
				l.endGrant(q.rxBuf[j].ref)
				q.rxBuf[j] = buffer{}
			}
		}
		l.endGrant(q.rxRingRef)
		q.rxMu.Unlock()
		if q.txPort != 0 {
			_ = l.cfg.Events.Close(q.txPort)
		}
		if q.rxPort != q.txPort && q.rxPort != 0 {
			_ = l.cfg.Events.Close(q.rxPort)
		}
	}
	return c.lent.Load() > 0
}

// pick chooses a frame's TX queue by hashing its IPv4/IPv6 addresses and ports, so a flow
// stays on one queue.
func (c *connection) pick(f *link.Frame) int {
	if len(c.queues) == 1 || len(f.Segments) == 0 {
		return 0
	}
	b := f.Segments[0]
	var key []byte
	switch {
	case len(b) >= 38 && b[12] == 0x08 && b[13] == 0x00:
		key = b[26:38]
	case len(b) >= 58 && b[12] == 0x86 && b[13] == 0xDD:
		key = b[22:58]
	default:
		return 0
	}
	return int(maphash.Bytes(c.seed, key) % uint64(len(c.queues)))
}

// loop waits for events on port and processes the rings it serves.
func (q *queue) loop(port xenfront.Port, doRx, doTx bool) {
	defer q.c.wg.Done()
	ctx, l := q.c.ctx, q.l
	if doRx {
		select {
		case <-l.started:
		case <-ctx.Done():
			return
		}
	}
	spurious := 0
	for {
		work := false
		if doTx {
			q.txMu.Lock()
			before := q.tx.RspCons
			err := q.reapTx()
			work = work || q.tx.RspCons != before
			q.txMu.Unlock()
			if err != nil {
				l.fail(err)
				return
			}
			select {
			case q.txSpace <- struct{}{}:
			default:
			}
		}
		if doRx {
			did, err := q.drainRx()
			if err != nil {
				l.fail(err)
				return
			}
			work = work || did
		}
		if work {
			spurious = 0
		} else if spurious++; spurious > spuriousLimit {
			select {
			case <-time.After(spuriousDelay):
			case <-ctx.Done():
				return
			}
		}
		if err := l.cfg.Events.Wait(ctx, port); err != nil {
			return
		}
	}
}

func (l *Link) backendErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBackend}, args...)...)
}

// reapTx consumes TX responses and frees their buffers (txMu held), checking each response as
// hardened Linux netfront does.
func (q *queue) reapTx() error {
	l := q.l
	for {
		rp, err := q.tx.Produced()
		if err != nil {
			q.txBroken = true
			return l.backendErr("TX: illegal number of responses: %w", err)
		}
		for i := q.tx.RspCons; i != rp; i++ {
			rsp := q.tx.Response(i)
			if rsp.Status == netif.RspNull {
				if q.txExtras == 0 {
					q.txBroken = true
					return l.backendErr("TX: NULL response with no extra-info slot outstanding")
				}
				q.txExtras--
				continue
			}
			id := rsp.ID
			if int(id) >= txSize {
				q.txBroken = true
				return l.backendErr("TX: response has incorrect id %d", id)
			}
			if !q.txPending[id] {
				q.txBroken = true
				return l.backendErr("TX: response for inactive request id %d", id)
			}
			q.txPending[id] = false
			if l.cfg.Grants.InUse(q.txBuf[id].ref) {
				q.txLeaked[id] = true // never reuse it (XSA-396)
				q.txBroken = true
				return l.backendErr("TX: grant %d still in use by back end after its response", q.txBuf[id].ref)
			}
			q.txFree = append(q.txFree, id)
			if rsp.Status != netif.RspOkay {
				l.counters.TxError()
			}
		}
		q.tx.RspCons = rp
		if !q.tx.FinalCheck() {
			return nil
		}
	}
}

// transmit sends frames from the start of fs that hash to q and returns how many it took.
func (q *queue) transmit(fs []link.Frame, c *connection) (int, error) {
	l := q.l
	q.txMu.Lock()
	defer q.txMu.Unlock()
	n := 0
	defer func() {
		if !q.txBroken && q.tx.Push() {
			_ = l.cfg.Events.Notify(q.txPort)
		}
	}()
	for n < len(fs) {
		f := &fs[n]
		if n > 0 && len(c.queues) > 1 && c.pick(f) != q.idx {
			break
		}
		if q.txBroken {
			return n, link.ErrLinkDown
		}
		size := f.Len()
		gso := uint8(netif.GSOTypeNone)
		switch f.Offload.GSOType &^ link.GSOECN {
		case link.GSONone:
		case link.GSOTCPv4:
			if l.features.Has(link.FeatureTxTSO4) {
				gso = netif.GSOTypeTCPv4
			}
		case link.GSOTCPv6:
			if l.features.Has(link.FeatureTxTSO6) {
				gso = netif.GSOTypeTCPv6
			}
		}
		if size < link.EthernetHeaderLen || size > netif.MaxTxSize ||
			(f.Offload.GSOType != link.GSONone && (gso == netif.GSOTypeNone || f.Offload.GSOSize == 0)) ||
			(f.Offload.GSOType == link.GSONone && size > mtu+link.EthernetHeaderLen+4) {
			l.counters.TxDropped(1)
			n++
			continue
		}
		slots := (size + xenfront.PageSize - 1) / xenfront.PageSize
		need := slots
		if gso != netif.GSOTypeNone {
			need++
		}
		for int(q.tx.Free()) < need || len(q.txFree) < slots {
			if err := q.reapTx(); err != nil {
				l.fail(err)
				return n, link.ErrLinkDown
			}
			if int(q.tx.Free()) >= need && len(q.txFree) >= slots {
				break
			}
			if q.tx.Push() {
				_ = l.cfg.Events.Notify(q.txPort)
			}
			q.txMu.Unlock()
			select {
			case <-q.txSpace:
			case <-c.ctx.Done():
			}
			q.txMu.Lock()
			if c.ctx.Err() != nil || q.txBroken {
				return n, link.ErrLinkDown
			}
		}
		q.putFrame(f, size, slots, gso)
		l.counters.Sent(1, size)
		n++
	}
	return n, nil
}

// putFrame copies f into slots free buffers and queues its requests (txMu held).
func (q *queue) putFrame(f *link.Frame, size, slots int, gso uint8) {
	var flags uint16
	switch {
	case f.Offload.Flags&link.FlagNeedsCsum != 0 || gso != netif.GSOTypeNone:
		flags = netif.TxfCsumBlank | netif.TxfDataValidated
	case f.Offload.Flags&link.FlagDataValid != 0:
		flags = netif.TxfDataValidated
	}
	seg, segOff := 0, 0
	for s := range slots {
		id := q.txFree[len(q.txFree)-1]
		q.txFree = q.txFree[:len(q.txFree)-1]
		page := q.txBuf[id].page
		filled := 0
		for filled < xenfront.PageSize && seg < len(f.Segments) {
			k := copy(page[filled:], f.Segments[seg][segOff:])
			filled += k
			segOff += k
			if segOff == len(f.Segments[seg]) {
				seg, segOff = seg+1, 0
			}
		}
		req := netif.TxRequest{Gref: q.txBuf[id].ref, ID: id, Size: uint16(filled)}
		if s == 0 {
			req.Size = uint16(size)
			req.Flags = flags
			if gso != netif.GSOTypeNone {
				req.Flags |= netif.TxfExtraInfo
			}
		}
		if s < slots-1 {
			req.Flags |= netif.TxfMoreData
		}
		q.txPending[id] = true
		q.tx.PutRequest(&req)
		if s == 0 && gso != netif.GSOTypeNone {
			extra := netif.TxRequestFromExtra(netif.GSOExtra(f.Offload.GSOSize, gso))
			q.tx.PutRequest(&extra)
			q.txExtras++
		}
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

// takeSlot returns the buffer posted in ring slot i and, for a data slot, checks the
// response's id against it (an extra-info slot's first bytes are its type and flags).
func (q *queue) takeSlot(i uint32, id uint16, data bool) (uint16, error) {
	slot := i % rxSize
	b := q.rxSlot[slot]
	if b < 0 || (data && id != uint16(slot)) {
		return 0, q.l.backendErr("RX: bad response id %d in slot %d", id, slot)
	}
	q.rxSlot[slot] = -1
	return uint16(b), nil
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
				r := &q.lent[rec]
				r.used = false
				for k := range r.n {
					q.rxLent[r.bufs[k]] = false
				}
				q.recFree = append(q.recFree, uint16(rec))
			}
		}
		q.rxMu.Unlock()
		if err != nil {
			return any, err
		}
		if n > 0 {
			any = true
			bytes := 0
			for i := range n {
				bytes += q.frames[i].Len()
			}
			q.l.counters.Received(n, bytes)
			q.c.lent.Add(int64(n))
			if recv != nil {
				q.l.deliverMu.Lock()
				recv.DeliverFrames(q.frames[:n])
				q.l.deliverMu.Unlock()
			}
		}
		if n < rxBatch && !more {
			return any, nil
		}
	}
}

// collect consumes responses into up to rxBatch frames in q.frames (rxMu held).
func (q *queue) collect() (int, error) {
	l := q.l
	rp, err := q.rx.Produced()
	if err != nil {
		return 0, l.backendErr("RX: illegal number of responses: %w", err)
	}
	maxLen := mtu + link.EthernetHeaderLen + 4
	if l.features.Has(link.FeatureRxGRO) {
		maxLen = link.MaxGSOSize
	}
	n := 0
	for q.rx.RspCons != rp && n < rxBatch && len(q.recFree) > 0 {
		rec := q.recFree[len(q.recFree)-1]
		r := &q.lent[rec]
		r.n = 0
		f := &q.frames[n]
		f.Segments = q.segs[n][:0]
		f.Offload = link.Offload{}
		i := q.rx.RspCons
		var flags0 uint16
		var gso netif.ExtraInfo
		hasGSO, drop, total := false, false, 0
		for first := true; ; first = false {
			if i == rp {
				return n, l.backendErr("RX: packet needs more slots than produced")
			}
			rsp := q.rx.Response(i)
			b, err := q.takeSlot(i, rsp.ID, true)
			if err != nil {
				return n, err
			}
			i++
			if int(r.n) == maxRxSlots || (int(r.n) == netif.NrSlotsMin && len(f.Segments) > 0 && len(f.Segments[0]) > rxCopyThreshold) {
				q.rxFree = append(q.rxFree, b)
				return n, l.backendErr("RX: too many slots in one packet")
			}
			r.bufs[r.n] = b
			r.n++
			switch {
			case rsp.Status < 0:
				drop = true
			case int(rsp.Offset)+int(rsp.Status) > xenfront.PageSize:
				return n, l.backendErr("RX: offset %d + size %d beyond the page", rsp.Offset, rsp.Status)
			default:
				total += int(rsp.Status)
				f.Segments = append(f.Segments, q.rxBuf[b].page[rsp.Offset:int(rsp.Offset)+int(rsp.Status)])
			}
			if first {
				flags0 = rsp.Flags
				if rsp.Flags&netif.RxfExtraInfo != 0 {
					for k := 0; ; k++ {
						if i == rp {
							return n, l.backendErr("RX: missing extra info")
						}
						ersp := q.rx.Response(i)
						eb, err := q.takeSlot(i, ersp.ID, false)
						if err != nil {
							return n, err
						}
						i++
						q.rxFree = append(q.rxFree, eb)
						e := netif.RxExtra(&ersp)
						if e.Type == netif.ExtraTypeNone || e.Type >= netif.ExtraTypeMax || k >= netif.ExtraTypeMax {
							return n, l.backendErr("RX: invalid extra type %d", e.Type)
						}
						if e.Type == netif.ExtraTypeGSO {
							mss, t := e.GSO()
							if mss == 0 {
								return n, l.backendErr("RX: GSO size must not be zero")
							}
							if t != netif.GSOTypeTCPv4 && t != netif.GSOTypeTCPv6 {
								return n, l.backendErr("RX: bad GSO type %d", t)
							}
							gso, hasGSO = e, true
						}
						if e.Flags&netif.ExtraFlagMore == 0 {
							break
						}
					}
				}
			}
			if rsp.Flags&netif.RxfMoreData == 0 {
				break
			}
		}
		q.rx.RspCons = i
		if !drop && (total < link.EthernetHeaderLen || total > maxLen) {
			drop = true
		}
		if !drop {
			drop = !q.offload(f, flags0, hasGSO, gso, total)
		}
		if drop {
			q.giveBack(r)
			l.counters.RxDropped(1)
			continue
		}
		r.used = true
		q.recFree = q.recFree[:len(q.recFree)-1]
		for k := range r.n {
			q.rxLent[r.bufs[k]] = true
		}
		f.Cookie = uint64(q.c.gen)<<48 | uint64(q.idx)<<32 | uint64(rec)
		n++
	}
	q.refill()
	return n, nil
}

// offload maps NETRXF_* flags and a GSO extra to the frame's Offload; false drops the frame.
func (q *queue) offload(f *link.Frame, flags uint16, hasGSO bool, gso netif.ExtraInfo, total int) bool {
	if flags&netif.RxfCsumBlank == 0 && !hasGSO {
		if flags&netif.RxfDataValidated != 0 {
			f.Offload.Flags = link.FlagDataValid
		}
		return true
	}
	h, ok := link.LocateHeaders(f.Segments[0])
	if !ok || (hasGSO && h.Proto != link.ProtoTCP) {
		return false
	}
	f.Offload = link.Offload{Flags: link.FlagNeedsCsum, CsumStart: uint16(h.L4), CsumOffset: uint16(h.CsumOffset())}
	if hasGSO {
		mss, t := gso.GSO()
		if total-h.Len > int(mss) {
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

// giveBack returns a record's buffers to the free list (rxMu held).
func (q *queue) giveBack(r *lentRec) {
	for k := range r.n {
		q.rxFree = append(q.rxFree, r.bufs[k])
	}
	r.n = 0
}

// release takes back a lent frame's buffers: onto the ring, or, once the connection is gone,
// back to the grant table. It reports whether that was a torn-down connection's last frame.
func (q *queue) release(rec uint32) bool {
	q.rxMu.Lock()
	defer q.rxMu.Unlock()
	if rec >= rxSize || !q.lent[rec].used {
		return false // not lent: a receiver bug, ignored rather than corrupting the pool
	}
	r := &q.lent[rec]
	r.used = false
	q.recFree = append(q.recFree, uint16(rec))
	for k := range r.n {
		q.rxLent[r.bufs[k]] = false
	}
	last := q.c.lent.Add(-1) == 0
	if q.dead {
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

// splitCookie decodes a frame cookie: connection generation, queue and lent record.
func splitCookie(c uint64) (gen uint16, q uint16, rec uint32) {
	return uint16(c >> 48), uint16(c >> 32), uint32(c)
}
