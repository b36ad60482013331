package netfront

import (
	"hash/maphash"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
)

// maxTxSlots is the most data slots Transmit uses for one frame: 64 KiB + 14 bytes spans
// 17 pages, within the XEN_NETIF_NR_SLOTS_MIN every back end accepts.
const maxTxSlots = (link.MaxGSOSize + xenfront.PageSize - 1) / xenfront.PageSize

// The conversion overflows, and the build fails, if a frame could need more data slots than
// every back end accepts.
const _ = uint(netif.NrSlotsMin - maxTxSlots)

// queueFor chooses a frame's TX queue by hashing its IPv4/IPv6 addresses and ports, so a flow
// stays on one queue.
func (c *connection) queueFor(f *link.Frame) int {
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

// transmit sends frames from the start of fs that hash to q and returns how many it took.
// A frame the link cannot carry is dropped and counted as taken. It blocks while the ring or
// the page pool is full.
func (q *queue) transmit(fs []link.Frame) (int, error) {
	l, c := q.l, q.c
	q.txMu.Lock()
	defer q.txMu.Unlock()
	n := 0
	defer q.pushTx()
	for n < len(fs) {
		f := &fs[n]
		if n > 0 && len(c.queues) > 1 && c.queueFor(f) != q.idx {
			break
		}
		if q.txStopped {
			return n, l.downErr()
		}
		size := f.Len()
		gso := l.txGSOType(f)
		if !carriable(f, size, gso) {
			l.counters.TxDropped(1)
			n++
			continue
		}
		if size > netif.MaxTxSize {
			if err := q.transmitSplit(f, size, gso); err != nil {
				return n, err
			}
			n++
			continue
		}
		slots := (size + xenfront.PageSize - 1) / xenfront.PageSize
		need := slots
		if gso != netif.GSOTypeNone {
			need++
		}
		if err := q.awaitTxRoom(need, slots); err != nil {
			return n, err
		}
		q.putFrame(f, size, slots, gso)
		l.counters.Sent(1, size)
		n++
	}
	return n, nil
}

// txGSOType returns the netif GSO type of a frame's segmentation offload, or GSOTypeNone for
// none and for one the link did not negotiate.
func (l *Link) txGSOType(f *link.Frame) uint8 {
	switch f.Offload.GSOType &^ link.GSOECN {
	case link.GSOTCPv4:
		if l.features.Has(link.FeatureTxTSO4) {
			return netif.GSOTypeTCPv4
		}
	case link.GSOTCPv6:
		if l.features.Has(link.FeatureTxTSO6) {
			return netif.GSOTypeTCPv6
		}
	}
	return netif.GSOTypeNone
}

// carriable reports whether the link can send a frame of size bytes: at least an Ethernet
// header; a GSO frame only with a GSO type the link can carry and an MSS, and up to
// link.MaxGSOSize (longer than the netif protocol's 16-bit size field takes, it goes in two
// parts: transmitSplit); any other frame within the MTU (plus a VLAN tag).
func carriable(f *link.Frame, size int, gso uint8) bool {
	if size < link.EthernetHeaderLen {
		return false
	}
	if f.Offload.GSOType != link.GSONone {
		return gso != netif.GSOTypeNone && f.Offload.GSOSize != 0 && size <= link.MaxGSOSize
	}
	return size <= mtu+link.EthernetHeaderLen+4
}

// awaitTxRoom waits until need ring slots and slots pages are free (txMu held, released while
// waiting): it reaps responses, and otherwise publishes what is queued and sleeps until the
// event loop reports progress. It returns link.ErrLinkDown once the ring is unusable.
func (q *queue) awaitTxRoom(need, slots int) error {
	for !q.hasTxRoom(need, slots) {
		if err := q.reapTx(); err != nil {
			q.l.fail(err)
			return link.ErrLinkDown
		}
		if q.hasTxRoom(need, slots) {
			break
		}
		q.pushTx()
		q.txMu.Unlock()
		select {
		case <-q.txSpace:
		case <-q.c.ctx.Done():
		}
		q.txMu.Lock()
		if q.c.ctx.Err() != nil || q.txStopped {
			return q.l.downErr()
		}
	}
	return nil
}

// hasTxRoom reports whether need ring slots and slots pages are free (txMu held).
func (q *queue) hasTxRoom(need, slots int) bool {
	return int(q.tx.Free()) >= need && len(q.txFree) >= slots
}

// pushTx publishes the queued requests and notifies the back end if it asked (txMu held).
func (q *queue) pushTx() {
	if !q.txStopped && q.tx.Push() {
		_ = q.l.cfg.Events.Notify(q.txPort)
	}
}

// putFrame copies f into slots free buffers and queues its requests (txMu held): one data
// slot per page chained with NETTXF_more_data, and for a GSO frame an extra-info slot after
// the first. An IPv6 frame whose checksum is pending goes with its checksum completed when
// the back end does not complete IPv6 checksums.
func (q *queue) putFrame(f *link.Frame, size, slots int, gso uint8) {
	var flags uint16
	switch {
	case f.Offload.Flags&link.FlagNeedsCsum != 0 || gso != netif.GSOTypeNone:
		flags = netif.TxfCsumBlank | netif.TxfDataValidated
	case f.Offload.Flags&link.FlagDataValid != 0:
		flags = netif.TxfDataValidated
	}
	softCsum := q.c.softIPv6Csum && flags&netif.TxfCsumBlank != 0 && gso == netif.GSOTypeNone
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
		if s == 0 && softCsum && slots == 1 && completeIPv6Csum(page[:size], f.Offload) {
			flags = netif.TxfDataValidated
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

// completeIPv6Csum completes the pending checksum of frame, a copy in a TX page, when it is
// an IPv6 packet, and reports whether it did. A frame without a GSO type fits one page.
func completeIPv6Csum(frame []byte, o link.Offload) bool {
	h, ok := link.LocateHeaders(frame)
	return ok && h.IPv6 && link.CompleteChecksum(frame, o)
}

// drainTx consumes TX responses after an event and wakes a Transmit waiting for room; it
// reports whether there were any.
func (q *queue) drainTx() (bool, error) {
	q.txMu.Lock()
	before := q.tx.RspCons
	err := q.reapTx()
	did := q.tx.RspCons != before
	q.txMu.Unlock()
	if err != nil {
		return did, err
	}
	select {
	case q.txSpace <- struct{}{}:
	default:
	}
	return did, nil
}

// reapTx consumes TX responses and frees their buffers (txMu held), checking each response as
// hardened Linux netfront does. A violation stops the ring for good.
func (q *queue) reapTx() error {
	for {
		rp, err := q.tx.Produced()
		if err != nil {
			q.txStopped = true
			return backendErr("TX: illegal number of responses: %w", err)
		}
		for i := q.tx.RspCons; i != rp; i++ {
			if err := q.completeTx(q.tx.Response(i)); err != nil {
				q.txStopped = true
				return err
			}
		}
		q.tx.RspCons = rp
		if !q.tx.FinalCheck() {
			return nil
		}
	}
}

// completeTx checks one TX response and frees the buffer of its request (txMu held). A NULL
// response answers an extra-info slot; any other names an outstanding request, whose page
// the back end must have let go of.
func (q *queue) completeTx(rsp netif.TxResponse) error {
	if rsp.Status == netif.RspNull {
		if q.txExtras == 0 {
			return backendErr("TX: NULL response with no extra-info slot outstanding")
		}
		q.txExtras--
		return nil
	}
	id := rsp.ID
	if int(id) >= txSize {
		return backendErr("TX: response has incorrect id %d", id)
	}
	if !q.txPending[id] {
		return backendErr("TX: response for inactive request id %d", id)
	}
	q.txPending[id] = false
	if q.l.cfg.Grants.InUse(q.txBuf[id].ref) {
		q.txLeaked[id] = true // never reuse it (XSA-396)
		return backendErr("TX: grant %d still in use by back end after its response", q.txBuf[id].ref)
	}
	q.txFree = append(q.txFree, id)
	if rsp.Status != netif.RspOkay {
		q.l.counters.TxError()
	}
	return nil
}
