package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/virtio"
)

// NetConfig configures a [NetDevice]. The zero value offers every feature the backend can
// support, the backend's MAC and MTU and queues of up to 256 entries.
type NetConfig struct {
	// Features, if not zero, restricts the offered features (VERSION_1 is always offered).
	Features uint64
	// QueueMax is the largest queue size; zero means 256.
	QueueMax int
	// MAC overrides the MAC in the configuration space; nil means the backend's.
	MAC net.HardwareAddr
	// Packed offers VIRTIO_F_RING_PACKED (off by default, as in QEMU).
	Packed bool
	// MaxPairs, if not zero, offers VIRTIO_NET_F_CTRL_VQ and VIRTIO_NET_F_MQ with this many
	// queue pairs (only the first carries traffic) and a control queue after them.
	MaxPairs int
	// CtrlNoAnswer makes the device never complete control commands.
	CtrlNoAnswer bool
}

// NetDevice models a virtio-net device (VIRTIO 1.2 section 5.1) with one queue pair whose wire
// is a backend link.Link: frames the driver transmits go to the backend's Transmit,
// frames the backend delivers are written into the driver's receive buffers (merging buffers
// with VIRTIO_NET_F_MRG_RXBUF). Offload metadata passes through in both directions; a
// partial checksum the driver did not negotiate (GUEST_CSUM) is completed by the device, and
// a GSO frame it cannot take (GUEST_TSO4/6) is dropped and counted.
type NetDevice struct {
	*Device
	backend link.Link
	rxq     *Queue
	txq     *Queue

	counters link.Counters // the device's view: Rx = towards the driver

	txKick  chan struct{}
	rxKick  chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool

	// Transmit path, used by the transmit goroutine only.
	txChains []Chain
	txFrames []link.Frame
	txSegs   [][][]byte

	// Receive path, used by DeliverFrames only (the backend never calls it concurrently).
	rxChains []Chain
	rxUsed   []int

	ctrlIdx   int
	ctrlMute  bool
	ctrlMu    sync.Mutex
	ctrlChain Chain
	pairs     atomic.Int32 // the last VQ_PAIRS_SET value
}

const netBatch = 64

// NewNet returns a modelled virtio-net device over mem whose wire is backend, and starts the
// backend with the device as its receiver. Close closes the backend too.
func NewNet(mem *virtio.Arena, backend link.Link, cfg *NetConfig) (*NetDevice, error) {
	var c NetConfig
	if cfg != nil {
		c = *cfg
	}
	if c.QueueMax == 0 {
		c.QueueMax = 256
	}
	bf := backend.Features()
	offered := uint64(virtio.FeatureVersion1 | virtio.FeatureEventIdx | virtio.FeatureIndirectDesc |
		virtio.NetFMAC | virtio.NetFStatus | virtio.NetFMTU | virtio.NetFMrgRxbuf | virtio.NetFGuestCsum)
	if bf.Has(link.FeatureTxCsum) {
		offered |= virtio.NetFCsum
		if bf.Has(link.FeatureTxTSO4) {
			offered |= virtio.NetFHostTSO4
		}
		if bf.Has(link.FeatureTxTSO6) {
			offered |= virtio.NetFHostTSO6
		}
	}
	if bf.Has(link.FeatureRxGRO) {
		offered |= virtio.NetFGuestTSO4 | virtio.NetFGuestTSO6
	}
	if c.Packed {
		offered |= virtio.FeatureRingPacked
	}
	nq := 2
	if c.MaxPairs > 0 {
		offered |= virtio.NetFCtrlVQ | virtio.NetFMQ
		nq = 2*c.MaxPairs + 1
	}
	if c.Features != 0 {
		offered &= c.Features | virtio.FeatureVersion1
	}
	mac := c.MAC
	if mac == nil {
		mac = backend.MAC()
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("virtiotest: MAC %v is not 6 bytes", mac)
	}
	if backend.MTU() > 65535 || backend.MTU() < 68 {
		return nil, fmt.Errorf("virtiotest: backend MTU %d", backend.MTU())
	}
	config := make([]byte, 12)
	copy(config, mac)
	if backend.Up() {
		binary.LittleEndian.PutUint16(config[6:], 1)
	}
	binary.LittleEndian.PutUint16(config[8:], uint16(max(c.MaxPairs, 1)))
	binary.LittleEndian.PutUint16(config[10:], uint16(backend.MTU()))
	d := &NetDevice{
		Device:   NewDevice(mem, virtio.DeviceNet, offered, config, nq, c.QueueMax),
		ctrlIdx:  nq - 1,
		ctrlMute: c.CtrlNoAnswer,
		backend:  backend,
		txKick:   make(chan struct{}, 1),
		rxKick:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		txChains: make([]Chain, netBatch),
		txFrames: make([]link.Frame, netBatch),
		txSegs:   make([][][]byte, netBatch),
		rxChains: make([]Chain, 0, c.QueueMax),
		rxUsed:   make([]int, c.QueueMax),
	}
	d.rxq, d.txq = d.queues[virtio.NetRxQueue], d.queues[virtio.NetTxQueue]
	for i := range d.txSegs {
		d.txSegs[i] = make([][]byte, 0, 4)
	}
	d.onNotify = d.notified
	d.onDriverOK = func() { d.notified(virtio.NetTxQueue); d.notified(virtio.NetRxQueue) }
	if err := backend.Start(d); err != nil {
		return nil, err
	}
	d.wg.Add(1)
	go d.txLoop()
	return d, nil
}

// Counters returns the device's counters: RxFrames are frames written to the driver,
// TxFrames frames the driver transmitted to the backend.
func (d *NetDevice) Counters() link.Stats { return d.counters.Snapshot() }

func (d *NetDevice) notified(q int) {
	if q == d.ctrlIdx && d.ctrlIdx > virtio.NetTxQueue {
		d.control()
		return
	}
	ch := d.txKick
	if q == virtio.NetRxQueue {
		ch = d.rxKick
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Close stops the device's goroutine and closes the backend. It is idempotent.
func (d *NetDevice) Close() error {
	d.closeMu.Lock()
	if d.closed {
		d.closeMu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	d.closeMu.Unlock()
	err := d.backend.Close()
	d.wg.Wait()
	return err
}

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

// LinkStateChanged implements link.Receiver: the link status goes to the driver through
// the configuration space.
func (d *NetDevice) LinkStateChanged(up bool) {
	var s [2]byte
	if up {
		s[0] = 1
	}
	d.SetConfig(6, s[:])
}

// errWaitBuffers is how long DeliverFrames waits for the driver to post receive buffers
// before it drops a frame: receive buffers are back-pressure on the backend's reader.
var errNoBuffers = errors.New("virtiotest: no receive buffers")

// DeliverFrames implements link.Receiver: each frame is copied into the driver's receive
// buffers. When none are posted it waits for the driver (back-pressure on the backend).
func (d *NetDevice) DeliverFrames(frames []link.Frame) {
	defer d.backend.Release(frames)
	if d.Status()&virtio.StatusDriverOK == 0 {
		d.counters.RxDropped(len(frames))
		return
	}
	for i := range frames {
		if err := d.receive(&frames[i]); err != nil {
			d.counters.RxDropped(1)
			if err == errQueueOff {
				d.counters.RxDropped(len(frames) - i - 1)
				break
			}
		}
	}
	d.rxq.Flush()
}

// receive writes one frame into as many receive buffers as it needs.
func (d *NetDevice) receive(f *link.Frame) error {
	feat := d.DriverFeatures()
	o := f.Offload
	flen := f.Len()
	if o.GSOType != link.GSONone {
		want := uint64(virtio.NetFGuestTSO4)
		if o.GSOType&^link.GSOECN == link.GSOTCPv6 {
			want = virtio.NetFGuestTSO6
		}
		if feat&want == 0 {
			return errors.New("virtiotest: GSO frame for a driver without GUEST_TSO")
		}
	}
	total := link.VirtioNetHdrLen + flen
	mrg := feat&virtio.NetFMrgRxbuf != 0
	// Collect buffers until the frame fits.
	chains := d.rxChains[:0]
	room := 0
	for room < total {
		if len(chains) == cap(chains) || (!mrg && len(chains) == 1) {
			d.rxChains = chains
			d.giveBack(chains)
			return errNoBuffers
		}
		chains = chains[:len(chains)+1]
		c := &chains[len(chains)-1]
		for {
			ok, err := d.rxq.Pop(c)
			if err != nil {
				d.rxChains = chains[:len(chains)-1]
				d.giveBack(chains[:len(chains)-1])
				return err
			}
			if ok {
				break
			}
			// Empty: publish what we have, ask for a kick and wait.
			d.rxq.Flush()
			if d.rxq.EnableNotify() {
				continue
			}
			select {
			case <-d.rxKick:
			case <-d.done:
				d.rxChains = chains[:len(chains)-1]
				d.giveBack(chains[:len(chains)-1])
				return errQueueOff
			}
		}
		room += c.WritableLen()
	}
	d.rxChains = chains
	var hdr [link.VirtioNetHdrLen]byte
	if o.Flags&link.FlagNeedsCsum != 0 && feat&virtio.NetFGuestCsum == 0 {
		o.Flags = 0 // the device completes the checksum below
	}
	link.PutVirtioNetHdr(hdr[:], o)
	binary.LittleEndian.PutUint16(hdr[10:], uint16(len(chains)))
	w := chainWriter{chains: chains, used: d.rxUsed[:len(chains)]}
	clear(w.used)
	w.write(hdr[:])
	for _, s := range f.Segments {
		w.write(s)
	}
	if f.Offload.Flags&link.FlagNeedsCsum != 0 && feat&virtio.NetFGuestCsum == 0 {
		w.completeChecksum(link.VirtioNetHdrLen+int(f.Offload.CsumStart), link.VirtioNetHdrLen+int(f.Offload.CsumStart)+int(f.Offload.CsumOffset))
	}
	for i := range chains {
		d.rxq.Push(chains[i].Head, uint32(w.used[i]))
	}
	d.counters.Received(1, flen)
	return nil
}

// giveBack completes chains that were popped but not filled, with length 0.
func (d *NetDevice) giveBack(chains []Chain) {
	for i := range chains {
		d.rxq.Push(chains[i].Head, 0)
	}
}

// chainWriter writes bytes in order into the writable buffers of a list of chains.
type chainWriter struct {
	chains []Chain
	used   []int // bytes written into each chain
	ci, wi int   // current chain and writable buffer
	off    int   // offset in the current buffer
}

func (w *chainWriter) write(b []byte) {
	for len(b) > 0 && w.ci < len(w.chains) {
		c := &w.chains[w.ci]
		if w.wi >= len(c.Writable) {
			w.ci, w.wi, w.off = w.ci+1, 0, 0
			continue
		}
		n := copy(c.Writable[w.wi][w.off:], b)
		b = b[n:]
		w.off += n
		w.used[w.ci] += n
		if w.off == len(c.Writable[w.wi]) {
			w.wi, w.off = w.wi+1, 0
		}
	}
}

// each calls f for every written byte range in order, with its logical offset.
func (w *chainWriter) each(f func(off int, b []byte)) {
	off := 0
	for i := range w.chains {
		left := w.used[i]
		for _, b := range w.chains[i].Writable {
			if left == 0 {
				break
			}
			n := min(left, len(b))
			f(off, b[:n])
			off += n
			left -= n
		}
	}
}

// completeChecksum computes the Internet checksum of the bytes from logical offset start to
// the end (the checksum field holds the pseudo-header sum) and stores it at logical offset at.
func (w *chainWriter) completeChecksum(start, at int) {
	var sum uint64
	w.each(func(off int, b []byte) {
		for i, c := range b {
			o := off + i
			if o < start {
				continue
			}
			if (o-start)%2 == 0 {
				sum += uint64(c) << 8
			} else {
				sum += uint64(c)
			}
		}
	})
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	cs := ^uint16(sum)
	w.each(func(off int, b []byte) {
		for i := range b {
			switch off + i {
			case at:
				b[i] = byte(cs >> 8)
			case at + 1:
				b[i] = byte(cs)
			}
		}
	})
}

// Pairs returns the queue pair count the driver last set with VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
// or 0.
func (d *NetDevice) Pairs() int { return int(d.pairs.Load()) }

// control processes control commands (section 5.1.6.5): MQ VQ_PAIRS_SET is accepted for 1 to
// max_virtqueue_pairs pairs; everything else is answered VIRTIO_NET_ERR.
func (d *NetDevice) control() {
	if d.ctrlMute {
		return
	}
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	q := d.queues[d.ctrlIdx]
	c := &d.ctrlChain
	for {
		ok, err := q.Pop(c)
		if err != nil || !ok {
			break
		}
		var cmd [4]byte
		n := 0
		for _, b := range c.Readable {
			n += copy(cmd[min(n, len(cmd)):], b)
		}
		ack := byte(1) // VIRTIO_NET_ERR
		maxPairs := (len(d.queues) - 1) / 2
		if n == 4 && cmd[0] == 4 && cmd[1] == 0 {
			if p := int(binary.LittleEndian.Uint16(cmd[2:])); p >= 1 && p <= maxPairs {
				d.pairs.Store(int32(p))
				ack = 0
			}
		}
		var w uint32
		if len(c.Writable) > 0 && len(c.Writable[0]) > 0 {
			c.Writable[0][0] = ack
			w = 1
		}
		q.Push(c.Head, w)
	}
	q.Flush()
}
