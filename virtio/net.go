package virtio

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// DeviceNet is the device ID of a network device.
const DeviceNet = 1

// Queue indices of the first receive/transmit pair (section 5.1.2).
const (
	NetRxQueue = 0
	NetTxQueue = 1
)

// Layout of struct virtio_net_config (section 5.1.4): the fields the driver reads.
const (
	netConfigStatOff  = 6  // offset of status
	netConfigPairsOff = 8  // offset of max_virtqueue_pairs
	netConfigMTUOff   = 10 // offset of mtu
	netStatusLinkUp   = 1  // VIRTIO_NET_S_LINK_UP, in status
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
	// BusyPoll, if positive, is how long the receive goroutine keeps looking at the receive
	// queue, yielding to other goroutines in between, after the last frame it found, before it
	// asks the device for an interrupt and sleeps (what Linux's NAPI does within a budget).
	// Frames that arrive meanwhile cost no interrupt. It is worth it where an interrupt costs
	// much more than a look at the used ring: with INTx through uio, each costs system calls
	// and configuration-space accesses that exit to the hypervisor. Zero or negative: the
	// goroutine asks for an interrupt as soon as the queue is empty.
	BusyPoll time.Duration
	// CoalesceTxKicks, if set, hands the transmit queue's notifications to the receive
	// goroutine once the link is started: a Transmit that publishes frames the device must be
	// told about wakes that goroutine instead of notifying, and it notifies once for every
	// frame published by the time it runs (after the goroutines ready to run have had their
	// turn), as Linux's xmit_more batches a queue's kicks. A notification that waited for
	// more than [MaxTxKickDelay] is made by the next Transmit itself. It is worth it where a
	// notification costs much more than a wake-up: a trapped register write that QEMU under
	// TCG serves holding its global lock, which its network back end also takes.
	CoalesceTxKicks bool
}

// MaxTxKickDelay bounds how long a Transmit leaves a notification owed to the receive
// goroutine with NetConfig.CoalesceTxKicks before it notifies the device itself.
const MaxTxKickDelay = 200 * time.Microsecond

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
// whose virtio_net_hdr is inconsistent are dropped and counted. The pending checksum of a
// received TSO frame is delivered as the link contract has it, over the whole transport
// length, also from a device that writes it without the length (DPDK's vhost library).
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

	// rxLentN counts the frames lent to the receiver; rxDrained runs once the link is closed
	// and none is lent any more (afterLent).
	rxLentN   int    // +checklocks:rxMu
	rxDrained func() // +checklocks:rxMu

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

	busyPoll time.Duration // NetConfig.BusyPoll

	// With NetConfig.CoalesceTxKicks: coalesce is set by Start; txOwedSince is when the
	// oldest transmit notification owed to the receive goroutine was published (UnixNano, 0
	// when none is owed); kick wakes that goroutine to make it.
	coalesce    bool
	coalesceOn  atomic.Bool
	txOwedSince atomic.Int64
	kick        chan struct{}

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
	features, maxPairs, err := negotiateNet(t, c.Features)
	if err != nil {
		return nil, err
	}
	n := &Net{t: t, features: features, hdrLen: link.VirtioNetHdrLen, busyPoll: c.BusyPoll, coalesce: c.CoalesceTxKicks, kick: make(chan struct{}, 1),
		irq: make(chan struct{}, 1), txWake: make(chan struct{}, 1),
		done: make(chan struct{}), exited: make(chan struct{})}
	if err := n.setup(mem, &c, maxPairs); err != nil {
		Fail(t)
		return nil, err
	}
	return n, nil
}

// NegotiatedFeatures returns the negotiated feature bits.
func (n *Net) NegotiatedFeatures() uint64 { return n.features }

// MAC implements [link.Link].
func (n *Net) MAC() net.HardwareAddr { return n.mac }

// MTU implements [link.Link]: the device's MTU with VIRTIO_NET_F_MTU, else 1500.
func (n *Net) MTU() int { return n.mtu }

// Features implements [link.Link]: checksum offload and TSO as negotiated with the device.
func (n *Net) Features() link.Features { return n.linkFeat }

// Stats implements [link.Link].
func (n *Net) Stats() link.Stats { return n.counters.Snapshot() }
