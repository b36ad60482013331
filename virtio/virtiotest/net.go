package virtiotest

import (
	"encoding/binary"
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
	// QueuesFollowMQ, with MaxPairs, makes the number of queues follow the negotiation as in
	// QEMU's virtio-net: one pair and the control queue (num_queues 3, the control queue at
	// index 2) until the driver's features include VIRTIO_NET_F_MQ, all the pairs and the
	// control queue after them from then on. A driver must read num_queues after the
	// negotiation.
	QueuesFollowMQ bool
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
	if c.QueuesFollowMQ && c.MaxPairs > 0 {
		d.queuesFor = func(f uint64) int {
			if f&virtio.NetFMQ != 0 {
				return nq
			}
			return 3
		}
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

// ctrlIndex returns the index of the control queue, the last queue the device has now; it
// is a data queue when the device has only one pair and no control queue.
func (d *NetDevice) ctrlIndex() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.numQueues() - 1
}

func (d *NetDevice) notified(q int) {
	if ctrl := d.ctrlIndex(); q == ctrl && ctrl > virtio.NetTxQueue {
		d.control(ctrl)
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
