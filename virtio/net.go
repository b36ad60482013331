package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/unikit/unikit/netstack/link"
)

// Queue indices of the first receive/transmit pair (section 5.1.2).
const (
	NetRxQueue = 0
	NetTxQueue = 1
)

// NetSupported is every network feature [NewNet] can use; it accepts those the device offers.
const NetSupported = NetFCsum | NetFGuestCsum | NetFMTU | NetFMAC | NetFGuestTSO4 | NetFGuestTSO6 |
	NetFHostTSO4 | NetFHostTSO6 | NetFMrgRxbuf | NetFStatus | FeatureEventIdx | FeatureVersion1 |
	FeatureRingPacked | NetFCtrlVQ | NetFMQ

// Sizes of the network driver's buffers.
const (
	// DefaultNetQueueSize is the queue size used when NetConfig.QueueSize is zero (and the
	// device allows it).
	DefaultNetQueueSize = 256
	// DefaultNetGSOQueueSize replaces DefaultNetQueueSize when the device may send 64 KiB
	// GSO frames (GUEST_TSO4/6): the receive ring must then hold a TCP window's worth of them
	// (1024 buffers of 4 KiB, as many bytes as the 64 TSO transmit buffers), or a backend
	// without back-pressure, such as a DPDK switch, drops whole segments whenever the guest
	// falls behind for a moment, and TCP collapses into retransmission timeouts. Measured
	// with BenchmarkVhostUserBulk: 0.04-9 Gbit/s at 256, 9.0-9.7 Gbit/s at 1024.
	DefaultNetGSOQueueSize = 1024
	// netRxBufSize is the size of one receive buffer with VIRTIO_NET_F_MRG_RXBUF: a full
	// 1514-byte frame and its header fit in one.
	netRxBufSize = 2048
	// netRxGSOBufSize is the receive buffer size when the device may send GSO frames
	// (GUEST_TSO4/6): a 64 KiB frame takes 17 buffers instead of 33, so a ring holds twice
	// as many before the device has to drop.
	netRxGSOBufSize = 4096
	// netTSOSlot is the size of a transmit buffer when TSO is negotiated: header plus the
	// largest GSO frame, rounded up.
	netTSOSlot = 65536 + 128
	// netTSOSlots bounds the number of TSO-sized transmit buffers (4 MiB of memory).
	netTSOSlots = 64
	// netBatch is the largest batch handed to DeliverFrames.
	netBatch = 64
	// netMinMTU is the smallest MTU the driver accepts from the device (section 5.1.4.1).
	netMinMTU = 68
)

// NetConfig configures [NewNet]. The zero value, like a nil *NetConfig, accepts every
// supported feature the device offers with queues of [DefaultNetQueueSize].
type NetConfig struct {
	// QueueSize is the size of the receive and transmit queues, a power of two; zero means
	// [DefaultNetQueueSize], or [DefaultNetGSOQueueSize] when GUEST_TSO4/6 is negotiated.
	// It is reduced to the device's maximum.
	QueueSize int
	// Features masks the features to accept, a subset of [NetSupported]; zero means all.
	// VIRTIO_F_VERSION_1 is always accepted.
	Features uint64
	// MAC is used when the device does not offer VIRTIO_NET_F_MAC; nil means a random
	// locally administered address.
	MAC net.HardwareAddr
}

// Net is a virtio-net driver for one receive/transmit queue pair. It implements
// [link.Link]; its methods are safe for concurrent use.
//
// Receive buffers stay posted: a received frame is lent to the receiver as slices of the
// device's buffers (zero copies; several segments when the device merged buffers) and its
// buffers are posted again on Release. Transmit copies each frame once, behind its
// virtio_net_hdr, into a buffer of the driver's own, and blocks while all transmit buffers are
// in flight. Completed transmissions are reclaimed lazily by Transmit.
//
// The device is untrusted: a device that breaks the ring protocol or sets
// DEVICE_NEEDS_RESET moves the driver to a failed state in which the link is down and
// Transmit returns an error wrapping [ErrDeviceBroken] or [ErrNeedsReset] ([Net.Err]). Frames
// whose virtio_net_hdr is inconsistent are dropped and counted.
type Net struct {
	t        Transport
	features uint64
	mac      net.HardwareAddr
	mtu      int
	linkFeat link.Features
	hdrLen   int
	up       atomic.Bool

	rxMu   sync.Mutex
	rx     Virtqueue // +checklocks:rxMu
	rxBuf  []Buffer  // +checklocks:rxMu; scratch, so that Add through the interface does not allocate
	rxBufs DMA
	rxSize int        // bytes per receive buffer
	rxNext []int32    // +checklocks:rxMu; next buffer of a lent merged frame, -1 at the end
	rxLent []bool     // +checklocks:rxMu
	rxSegs [][][]byte // per first buffer, the segments of the lent frame
	frames []link.Frame
	merge  int // largest number of buffers in one frame

	txMu    sync.Mutex
	tx      Virtqueue // +checklocks:txMu
	txBuf   []Buffer  // +checklocks:txMu; scratch
	txBufs  DMA
	txSlot  int
	txFree  []uint16 // +checklocks:txMu; free transmit buffers
	txLimit int      // largest frame without GSO

	ctrl      Virtqueue // control queue, with VIRTIO_NET_F_CTRL_VQ; used during NewNet only
	ctrlBuf   DMA
	ctrlIndex int

	irq    chan struct{} // receive/config work pending
	txWake chan struct{} // transmit completions pending

	configChanged atomic.Bool
	failure       atomic.Pointer[error]
	counters      link.Counters

	startMu   sync.Mutex
	started   bool
	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	exited    chan struct{}
}

var _ link.Link = (*Net)(nil)

// NewNet initialises the virtio-net device behind t (VIRTIO 1.2 sections 3.1 and 5.1.5):
// negotiates features, reads the configuration, sets up the first queue pair in memory from
// mem, posts receive buffers and sets DRIVER_OK. The device may then deliver frames; they are
// handed to a receiver once [Net.Start] is called. The runtime must call [Net.Interrupt] when
// the device interrupts.
func NewNet(t Transport, mem Memory, cfg *NetConfig) (*Net, error) {
	var c NetConfig
	if cfg != nil {
		c = *cfg
	}
	if id := t.DeviceID(); id != DeviceNet {
		return nil, fmt.Errorf("%w: device ID %d is not a network device", ErrUnsupported, id)
	}
	mask := uint64(NetSupported)
	if c.Features != 0 {
		mask &= c.Features | FeatureVersion1
	}
	maxPairs := 1
	features, err := Negotiate(t, func(offered uint64) uint64 {
		f := offered & mask
		// Dependencies of section 5.1.3.1.
		if f&NetFCsum == 0 {
			f &^= NetFHostTSO4 | NetFHostTSO6
		}
		if f&NetFGuestCsum == 0 || f&NetFMrgRxbuf == 0 {
			// Without merged buffers GUEST_TSO needs 64 KiB receive buffers; not worth it.
			f &^= NetFGuestTSO4 | NetFGuestTSO6
		}
		if f&NetFCtrlVQ == 0 {
			f &^= NetFMQ
		}
		if f&NetFMQ != 0 {
			// Section 5.1.4.1: max_virtqueue_pairs must be in 1..0x8000; otherwise do
			// without MQ (config may be read during negotiation).
			var b [2]byte
			if ReadConfigConsistent(t, netConfigPairsOff, b[:]) != nil {
				f &^= NetFMQ
			} else if p := binary.LittleEndian.Uint16(b[:]); p < 1 || p > 0x8000 {
				f &^= NetFMQ
			} else {
				maxPairs = int(p)
			}
		}
		return f
	})
	if err != nil {
		return nil, err
	}
	n := &Net{t: t, features: features, hdrLen: link.VirtioNetHdrLen,
		irq: make(chan struct{}, 1), txWake: make(chan struct{}, 1),
		done: make(chan struct{}), exited: make(chan struct{})}
	if err := n.readConfig(c.MAC); err != nil {
		Fail(t)
		return nil, err
	}
	if err := n.setupQueues(mem, c.QueueSize); err != nil {
		Fail(t)
		return nil, err
	}
	if features&NetFCtrlVQ != 0 {
		if err := n.setupCtrl(mem, 2*maxPairs); err != nil {
			Fail(t)
			return nil, err
		}
	}
	if err := DriverOK(t); err != nil {
		Fail(t)
		return nil, err
	}
	if features&NetFMQ != 0 {
		// One queue pair is used; say so explicitly (section 5.1.6.5.5).
		var pairs [2]byte
		binary.LittleEndian.PutUint16(pairs[:], 1)
		if err := n.ctrlCommand(ctrlClassMQ, ctrlMQPairsSet, pairs[:]); err != nil {
			Fail(t)
			return nil, err
		}
	}
	n.rxMu.Lock()
	if n.rx.KickPrepare() {
		t.Notify(NetRxQueue, NetRxQueue)
	}
	n.rxMu.Unlock()
	if r, ok := t.(resumer); ok {
		r.setResumeBase(n.resumeBase)
	}
	return n, nil
}

// resumer is a transport whose device can be replaced under a running driver (vhost-user
// reconnection) and which then asks the driver where each ring resumes.
type resumer interface {
	setResumeBase(func(queue int) (base uint32, ok bool))
}

// resumeBase returns where queue resumes with a new device, for packed rings (see
// [PackedQueue.ResumeBase]); ok is false for split rings, whose used index in shared memory
// says it.
func (n *Net) resumeBase(queue int) (uint32, bool) {
	var q Virtqueue
	switch queue {
	case NetRxQueue:
		n.rxMu.Lock()
		defer n.rxMu.Unlock()
		q = n.rx
	case NetTxQueue:
		n.txMu.Lock()
		defer n.txMu.Unlock()
		q = n.tx
	default:
		return 0, false
	}
	p, ok := q.(*PackedQueue)
	if !ok {
		return 0, false
	}
	return p.ResumeBase(), true
}

// readConfig reads MAC, MTU and link status (section 5.1.4), distrusting the values.
func (n *Net) readConfig(fallback net.HardwareAddr) error {
	var cfg [12]byte
	if err := ReadConfigConsistent(n.t, 0, cfg[0:6]); err != nil {
		return err
	}
	if err := ReadConfigConsistent(n.t, netConfigStatOff, cfg[6:8]); err != nil {
		return err
	}
	if err := ReadConfigConsistent(n.t, netConfigMTUOff, cfg[10:12]); err != nil {
		return err
	}
	switch {
	case n.features&NetFMAC != 0:
		n.mac = net.HardwareAddr(append([]byte(nil), cfg[0:6]...))
	case len(fallback) == 6:
		n.mac = append(net.HardwareAddr(nil), fallback...)
	default:
		n.mac = link.RandomMAC()
	}
	n.mtu = 1500
	if n.features&NetFMTU != 0 {
		if mtu := int(binary.LittleEndian.Uint16(cfg[10:])); mtu >= netMinMTU {
			n.mtu = mtu
		} else {
			n.features &^= NetFMTU // section 5.1.4.1: ignore an MTU below 68
		}
	}
	n.up.Store(n.features&NetFStatus == 0 || binary.LittleEndian.Uint16(cfg[6:])&netStatusLinkUp != 0)
	if n.features&NetFCsum != 0 {
		n.linkFeat |= link.FeatureTxCsum
	}
	if n.features&NetFHostTSO4 != 0 {
		n.linkFeat |= link.FeatureTxTSO4
	}
	if n.features&NetFHostTSO6 != 0 {
		n.linkFeat |= link.FeatureTxTSO6
	}
	if n.features&NetFGuestCsum != 0 {
		n.linkFeat |= link.FeatureRxCsum
	}
	if n.features&(NetFGuestTSO4|NetFGuestTSO6) != 0 {
		n.linkFeat |= link.FeatureRxGRO
	}
	return nil
}

func (n *Net) setupQueues(mem Memory, size int) error {
	gso := n.features&(NetFGuestTSO4|NetFGuestTSO6) != 0 // the device may send 64 KiB frames
	if size == 0 {
		size = DefaultNetQueueSize
		if gso {
			size = DefaultNetGSOQueueSize
		}
	}
	for _, i := range []int{NetRxQueue, NetTxQueue} {
		max := n.t.QueueMax(i)
		if max < 2 {
			return fmt.Errorf("%w: queue %d has maximum size %d", ErrUnsupported, i, max)
		}
		for size > max {
			size /= 2
		}
	}
	var err error
	if n.rx, err = NewVirtqueue(mem, size, n.features, 0); err != nil {
		return err
	}
	if n.tx, err = NewVirtqueue(mem, size, n.features, 0); err != nil {
		return err
	}
	n.rxBuf, n.txBuf = make([]Buffer, 1), make([]Buffer, 1)

	// Receive buffers: one descriptor each; the whole frame must fit in one buffer without
	// MRG_RXBUF (section 5.1.6.3.1).
	n.rxSize = netRxBufSize
	if gso {
		n.rxSize = netRxGSOBufSize
	}
	if n.features&NetFMrgRxbuf == 0 {
		n.rxSize = max(n.rxSize, (n.hdrLen+link.EthernetHeaderLen+n.mtu+63)&^63)
	}
	n.merge = 1
	if n.features&NetFMrgRxbuf != 0 {
		n.merge = (n.hdrLen+link.MaxGSOSize+n.rxSize-1)/n.rxSize + 1
		n.merge = min(n.merge, size)
	}
	if n.rxBufs, err = mem.Alloc(size*n.rxSize, 64); err != nil {
		return err
	}
	n.rxNext = make([]int32, size)
	n.rxLent = make([]bool, size)
	n.rxSegs = make([][][]byte, size)
	for i := range n.rxSegs {
		n.rxSegs[i] = make([][]byte, 0, n.merge)
	}
	n.frames = make([]link.Frame, netBatch)

	// Transmit buffers: header and frame in one descriptor (VERSION_1 implies ANY_LAYOUT).
	n.txLimit = link.EthernetHeaderLen + n.mtu
	slots := size
	n.txSlot = (n.hdrLen + n.txLimit + 63) &^ 63
	if n.linkFeat.Has(link.FeatureTxTSO4) || n.linkFeat.Has(link.FeatureTxTSO6) {
		n.txSlot, slots = max(n.txSlot, netTSOSlot), min(size, netTSOSlots)
	}
	if n.txBufs, err = mem.Alloc(slots*n.txSlot, 64); err != nil {
		return err
	}
	n.txFree = make([]uint16, slots)
	for i := range n.txFree {
		n.txFree[i] = uint16(slots - 1 - i)
	}
	n.tx.DisableInterrupts() // completions are reclaimed lazily by Transmit

	for _, i := range []int{NetRxQueue, NetTxQueue} {
		q := n.rx
		if i == NetTxQueue {
			q = n.tx
		}
		d, dr, dv := q.Addrs()
		if err := n.t.EnableQueue(i, size, d, dr, dv); err != nil {
			return err
		}
	}
	n.rxMu.Lock()
	defer n.rxMu.Unlock()
	for b := range size {
		if err := n.postRx(b); err != nil {
			return err
		}
	}
	return nil
}

// postRx posts receive buffer b.
// +checklocks:n.rxMu
func (n *Net) postRx(b int) error {
	n.rxBuf[0] = Buffer{Addr: n.rxBufs.Addr + uint64(b*n.rxSize), Len: uint32(n.rxSize), Write: true}
	_, err := n.rx.Add(n.rxBuf, uint64(b))
	return err
}

// NegotiatedFeatures returns the negotiated feature bits.
func (n *Net) NegotiatedFeatures() uint64 { return n.features }

// MAC implements [link.Link].
func (n *Net) MAC() net.HardwareAddr { return n.mac }

// MTU implements [link.Link]: the device's MTU with VIRTIO_NET_F_MTU, else 1500.
func (n *Net) MTU() int { return n.mtu }

// Features implements [link.Link]: checksum offload and TSO as negotiated with the device.
func (n *Net) Features() link.Features { return n.linkFeat }

// Up implements [link.Link]: the device's link status, false after a failure or Close.
func (n *Net) Up() bool { return n.up.Load() && n.failure.Load() == nil && !n.closed.Load() }

// Stats implements [link.Link].
func (n *Net) Stats() link.Stats { return n.counters.Snapshot() }

// Err returns the error that moved the driver to its failed state, or nil.
func (n *Net) Err() error {
	if p := n.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first failure, marks the device FAILED and wakes everyone.
func (n *Net) fail(err error) {
	if n.failure.CompareAndSwap(nil, &err) {
		Fail(n.t)
		n.wake()
	}
}

func (n *Net) wake() {
	select {
	case n.irq <- struct{}{}:
	default:
	}
	select {
	case n.txWake <- struct{}{}:
	default:
	}
}

// Interrupt is the driver's interrupt handler: the runtime (or the device model) calls it when
// the device raises its interrupt. It acknowledges the interrupt and wakes the driver's
// goroutines; it does not block or allocate and may be called from any goroutine.
func (n *Net) Interrupt() {
	if s := n.t.AckInterrupt(); s&2 != 0 {
		n.configChanged.Store(true)
	}
	n.wake()
}

// Start implements [link.Link]: it starts the goroutine that reaps the receive queue.
func (n *Net) Start(r link.Receiver) error {
	if r == nil {
		return errors.New("virtio: Start with nil receiver")
	}
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.closed.Load() {
		return link.ErrClosed
	}
	if n.started {
		return errors.New("virtio: link already started")
	}
	n.started = true
	go n.loop(r)
	return nil
}

// loop delivers received frames and configuration changes until Close.
func (n *Net) loop(r link.Receiver) {
	defer close(n.exited)
	wasUp := n.Up()
	for {
		if n.configChanged.Swap(false) {
			n.checkConfig()
		}
		if up := n.Up(); up != wasUp {
			wasUp = up
			r.LinkStateChanged(up)
		}
		if k := n.reapRx(); k > 0 {
			r.DeliverFrames(n.frames[:k])
			clear(n.frames[:k])
			continue
		}
		select {
		case <-n.irq:
		case <-n.done:
			return
		}
	}
}

// checkConfig handles a configuration change interrupt: DEVICE_NEEDS_RESET and link status.
func (n *Net) checkConfig() {
	if n.t.Status()&StatusDeviceNeedsReset != 0 {
		n.fail(ErrNeedsReset)
		return
	}
	if n.features&NetFStatus != 0 {
		var b [2]byte
		if err := ReadConfigConsistent(n.t, netConfigStatOff, b[:]); err != nil {
			n.fail(err)
			return
		}
		n.up.Store(binary.LittleEndian.Uint16(b[:])&netStatusLinkUp != 0)
	}
}

// reapRx collects up to a batch of received frames into n.frames. When the queue is empty it
// re-enables interrupts, and keeps reaping if frames arrived meanwhile.
func (n *Net) reapRx() int {
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
			if k > 0 || !n.rx.EnableInterrupts() {
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
	n.rxSegs[b] = segs
	n.rxLent[b] = true
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

// Release implements [link.Link]: the frames' buffers are posted to the device again.
// Frames that are not lent by this link are ignored.
func (n *Net) Release(frames []link.Frame) {
	n.rxMu.Lock()
	defer n.rxMu.Unlock()
	if n.closed.Load() {
		return // the device is reset and its memory may be gone
	}
	for i := range frames {
		b := frames[i].Cookie
		if b >= uint64(len(n.rxLent)) || !n.rxLent[b] {
			continue
		}
		n.rxLent[b] = false
		clear(n.rxSegs[b])
		for j := int(b); j >= 0; {
			next := int(n.rxNext[j])
			_ = n.postRx(j) // fails only on a broken queue, which Err reports
			j = next
		}
	}
	if n.rx.Err() == nil && n.rx.KickPrepare() {
		n.t.Notify(NetRxQueue, NetRxQueue)
	}
}

// Transmit implements [link.Link]. Each frame is copied with its virtio_net_hdr into one
// transmit buffer; Transmit blocks while all of them are in flight. Frames whose offloads were
// not negotiated, or that are too long, are dropped and counted (they are counted as taken);
// it returns [link.ErrClosed] after Close, [link.ErrLinkDown] while the link is down
// and the driver's failure ([Net.Err]) once it has failed.
func (n *Net) Transmit(frames []link.Frame) (int, error) {
	n.txMu.Lock()
	defer n.txMu.Unlock()
	txFrames, txBytes := 0, 0
	defer func() {
		n.counters.Sent(txFrames, txBytes) // once a batch: the counters are shared atomics
		if txFrames > 0 && n.tx.KickPrepare() {
			n.t.Notify(NetTxQueue, NetTxQueue)
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

// Close implements [link.Link]: it stops the receive goroutine, wakes blocked
// transmitters and resets the device, after which the device no longer touches the driver's
// memory. It is idempotent.
func (n *Net) Close() error {
	n.closeOnce.Do(func() {
		n.startMu.Lock()
		n.closed.Store(true)
		started := n.started
		n.startMu.Unlock()
		close(n.done)
		if started {
			<-n.exited
		}
		// With both queue locks held no Transmit or Release is touching the rings, and none
		// will after this: they check closed under the same locks.
		n.txMu.Lock()
		n.rxMu.Lock()
		n.t.SetStatus(0)
		n.rxMu.Unlock()
		n.txMu.Unlock()
	})
	return nil
}
