package virtiotest

import (
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/virtio"
)

// txLoop forwards the frames the driver transmits to the backend.
func (d *NetDevice) txLoop() {
	defer d.wg.Done()
	for {
		n := d.pollTx()
		if n > 0 {
			continue
		}
		if d.txq.EnableNotify() {
			continue
		}
		select {
		case <-d.txKick:
		case <-d.done:
			return
		}
	}
}

// pollTx pops a batch of transmit chains, hands them to the backend and completes them.
func (d *NetDevice) pollTx() int {
	k := 0
	for k < netBatch {
		c := &d.txChains[k]
		ok, err := d.txq.Pop(c)
		if err != nil || !ok {
			break
		}
		f := &d.txFrames[k]
		if d.parseTx(c, f, k) {
			k++
			continue
		}
		d.counters.TxDropped(1)
		d.txq.Push(c.Head, 0)
	}
	if k > 0 {
		sent, err := d.backend.Transmit(d.txFrames[:k])
		bytes := 0
		for i := range k {
			bytes += d.txFrames[i].Len()
			d.txq.Push(d.txChains[i].Head, 0)
			clear(d.txSegs[i])
			d.txFrames[i] = link.Frame{}
		}
		d.counters.Sent(sent, bytes)
		if err != nil {
			d.counters.TxDropped(k - sent)
		}
	}
	d.txq.Flush()
	return k
}

// parseTx turns a transmit chain into a frame for the backend without copying: the
// virtio_net_hdr may span descriptors, the frame's segments are the rest.
func (d *NetDevice) parseTx(c *Chain, f *link.Frame, k int) bool {
	var hdr [link.VirtioNetHdrLen]byte
	h := 0
	segs := d.txSegs[k][:0]
	total := 0
	for _, b := range c.Readable {
		if h < len(hdr) {
			m := copy(hdr[h:], b)
			h += m
			b = b[m:]
		}
		if len(b) > 0 {
			segs = append(segs, b)
			total += len(b)
		}
	}
	d.txSegs[k] = segs
	if h < len(hdr) || total < link.EthernetHeaderLen {
		return false
	}
	o, err := link.ParseVirtioNetHdr(hdr[:], total)
	if err != nil || o.Flags&link.FlagDataValid != 0 {
		return false
	}
	feat := d.DriverFeatures()
	if o.Flags&link.FlagNeedsCsum != 0 && feat&virtio.NetFCsum == 0 {
		return false
	}
	switch o.GSOType {
	case link.GSONone:
		if total > link.EthernetHeaderLen+d.backend.MTU() {
			return false
		}
	case link.GSOTCPv4:
		if feat&virtio.NetFHostTSO4 == 0 {
			return false
		}
	case link.GSOTCPv6:
		if feat&virtio.NetFHostTSO6 == 0 {
			return false
		}
	default:
		return false
	}
	f.Segments, f.Offload = segs, o
	return true
}
