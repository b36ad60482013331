package virtio

import (
	"context"
	"runtime/trace"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// Names of the runtime/trace regions of the driver's batches: frames put on the transmit
// queue, and frames reaped from the receive queue and delivered. A region costs one check of
// trace.IsEnabled when no trace is being taken.
const (
	traceTx = "unikit.virtio.tx"
	traceRx = "unikit.virtio.rx"
)

// Transmit implements [link.Link]. Each frame is copied with its virtio_net_hdr into one
// transmit buffer; Transmit blocks while all of them are in flight. Frames whose offloads were
// not negotiated, or that are too long, are dropped and counted (they are counted as taken);
// it returns [link.ErrClosed] after Close, [link.ErrLinkDown] while the link is down
// and the driver's failure ([Net.Err]) once it has failed.
func (n *Net) Transmit(frames []link.Frame) (int, error) {
	defer trace.StartRegion(context.Background(), traceTx).End()
	n.txMu.Lock()
	defer n.txMu.Unlock()
	txFrames, txBytes := 0, 0
	defer func() {
		n.counters.Sent(txFrames, txBytes) // once a batch: the counters are shared atomics
		if txFrames > 0 && n.tx.KickPrepare() {
			n.kickTx()
		}
	}()
	for i := range frames {
		if err := n.txReady(); err != nil {
			return i, err
		}
		f := &frames[i]
		flen := f.Len()
		if !n.txAllowed(f, flen) {
			n.counters.TxDropped(1)
			continue
		}
		for len(n.txFree) == 0 {
			if err := n.txWait(); err != nil {
				return i, err
			}
		}
		slot := n.txFree[len(n.txFree)-1]
		buf := n.txBufs.Buf[int(slot)*n.txSlot : int(slot+1)*n.txSlot]
		link.PutVirtioNetHdr(buf, f.Offload)
		off := n.hdrLen
		for _, s := range f.Segments {
			off += copy(buf[off:], s)
		}
		n.txBuf[0] = Buffer{Addr: n.txBufs.Addr + uint64(int(slot)*n.txSlot), Len: uint32(off)}
		if _, err := n.tx.Add(n.txBuf, uint64(slot)); err != nil {
			n.fail(err)
			return i, err
		}
		n.txFree = n.txFree[:len(n.txFree)-1]
		txFrames++
		txBytes += flen
	}
	return len(frames), nil
}

// kickTx notifies the device of the frames just published, or, with CoalesceTxKicks, leaves
// that to the receive goroutine unless a notification has been owed to it for too long.
// +checklocks:n.txMu
func (n *Net) kickTx() {
	if n.coalesceOn.Load() {
		now := time.Now().UnixNano()
		since := n.txOwedSince.Load()
		if since == 0 {
			n.txOwedSince.Store(now)
			select {
			case n.kick <- struct{}{}:
			default:
			}
			return
		}
		if now-since < int64(MaxTxKickDelay) {
			return // the goroutine is on its way
		}
		n.txOwedSince.Store(0)
	}
	n.t.Notify(NetTxQueue, NetTxQueue)
}

// flushTxKick makes the transmit notification owed to the receive goroutine, if any.
func (n *Net) flushTxKick() {
	// The frames were published before txOwedSince was set, and a Transmit that sees it set
	// publishes before it looks: the notification made after the swap covers them all.
	if n.txOwedSince.Load() != 0 && n.txOwedSince.Swap(0) != 0 {
		n.t.Notify(NetTxQueue, NetTxQueue)
	}
}

func (n *Net) txReady() error {
	switch {
	case n.closed.Load():
		return link.ErrClosed
	case n.failure.Load() != nil:
		return n.Err()
	case !n.up.Load():
		return link.ErrLinkDown
	}
	return nil
}

// txAllowed checks a frame's length and offloads against what was negotiated.
func (n *Net) txAllowed(f *link.Frame, flen int) bool {
	o := f.Offload
	if flen < link.EthernetHeaderLen || o.Flags&link.FlagDataValid != 0 {
		return false
	}
	if o.Flags&link.FlagNeedsCsum != 0 && (n.features&NetFCsum == 0 ||
		int(o.CsumStart)+int(o.CsumOffset)+2 > flen) {
		return false
	}
	switch o.GSOType {
	case link.GSONone:
		return flen <= n.txLimit
	case link.GSOTCPv4:
		return n.features&NetFHostTSO4 != 0 && flen <= min(link.MaxGSOSize, n.txSlot-n.hdrLen) && o.GSOSize > 0
	case link.GSOTCPv6:
		return n.features&NetFHostTSO6 != 0 && flen <= min(link.MaxGSOSize, n.txSlot-n.hdrLen) && o.GSOSize > 0
	}
	return false
}

// reclaimTx takes completed transmissions off the used ring.
// +checklocks:n.txMu
func (n *Net) reclaimTx() error {
	for {
		u, ok, err := n.tx.Get()
		if err != nil {
			n.fail(err)
			return err
		}
		if !ok {
			return nil
		}
		n.txFree = append(n.txFree, uint16(u.Token)) // tokens are our own slot numbers
	}
}

// txWait waits until a transmit buffer is free, having first published the frames added so
// far (KickPrepare does nothing when there are none).
// +checklocks:n.txMu
func (n *Net) txWait() error {
	if n.tx.KickPrepare() {
		n.t.Notify(NetTxQueue, NetTxQueue)
	}
	for {
		if err := n.reclaimTx(); err != nil {
			return err
		}
		if len(n.txFree) > 0 {
			n.tx.DisableInterrupts()
			return nil
		}
		if n.tx.EnableInterrupts() {
			continue
		}
		select {
		case <-n.txWake:
		case <-n.done:
			return link.ErrClosed
		}
		if err := n.txReady(); err != nil {
			return err
		}
	}
}
