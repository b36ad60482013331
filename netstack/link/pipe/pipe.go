package pipe

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// Defaults for a zero [Config].
const (
	// DefaultMTU is the MTU of a pipe whose Config.MTU is zero.
	DefaultMTU = 1500
	// DefaultQueueDepth is the number of receive buffers of each end when Config.QueueDepth is
	// zero: enough for a TCP window of 256 full-size frames in flight in each direction.
	DefaultQueueDepth = 256
	// DefaultBatchSize is the largest batch handed to DeliverFrames when Config.BatchSize is
	// zero; it matches the batch the netstack adapter transmits.
	DefaultBatchSize = 64
)

// Default MACs of the two ends: locally administered (bit 1 of the first byte set), unicast.
var (
	defaultMACA = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	defaultMACB = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
)

// ErrBadConfig is returned by [New] for an inconsistent [Config].
var ErrBadConfig = errors.New("pipe: invalid config")

// Config configures a pipe. The zero value, like a nil *Config, is a fast pipe without
// offloads or impairments at MTU 1500.
type Config struct {
	// MTU is the largest IP packet either end carries without GSO. Zero means [DefaultMTU].
	MTU int

	// MACA and MACB are the MACs of the two ends. Nil means distinct locally administered
	// addresses (02:00:00:00:00:0a and 02:00:00:00:00:0b).
	MACA, MACB net.HardwareAddr

	// Features are the offloads both ends report. With FeatureTxCsum a transmitted frame may
	// carry FlagNeedsCsum; with FeatureTxTSO4 or FeatureTxTSO6 it may be a GSO frame of up to
	// [link.MaxGSOSize] bytes. The metadata arrives at the peer unchanged, which needs
	// FeatureRxGRO for GSO frames (New rejects TSO without it) and FeatureRxCsum for checksum
	// flags: without FeatureRxCsum the pipe computes a NeedsCsum frame's checksum itself and
	// delivers it complete.
	Features link.Features

	// QueueDepth is the number of receive buffers of each end: frames queued towards it plus
	// frames lent to its receiver. Transmit blocks when the peer has none free (see the
	// package documentation for a receiver stuck inside DeliverFrames). Zero means
	// [DefaultQueueDepth].
	QueueDepth int

	// BatchSize is the largest number of frames handed to one DeliverFrames call. Zero means
	// [DefaultBatchSize].
	BatchSize int

	// Impair applies to both directions, each with its own random stream.
	Impair Impairments
}

// Impairments make a pipe imperfect. The zero value impairs nothing. Probabilities are per
// frame on the wire, between 0 and 1: with any of them set, a TCP GSO frame is segmented into
// the packets a NIC would send and each is impaired on its own (see the package doc).
type Impairments struct {
	// Seed seeds the random decisions; the same seed gives the same decisions for the same
	// sequence of frames.
	Seed uint64

	// Loss is the probability that a frame is dropped (counted in the sender's TxDropped, which
	// counts wire packets, so segments of a GSO frame one by one).
	Loss float64
	// Duplicate is the probability that a frame is delivered twice in a row.
	Duplicate float64
	// Reorder is the probability that a frame is held back and delivered after the next frame
	// in the same direction, or after ReorderWindow if no next frame comes.
	Reorder float64
	// ReorderWindow bounds how long a reordered frame waits for a frame to overtake it. Zero
	// means 1 ms.
	ReorderWindow time.Duration
	// Corrupt is the probability that one byte of a frame after its Ethernet header is flipped.
	// Checksums are not fixed; offload flags are cleared so that the receiver checks them (see
	// the package documentation).
	Corrupt float64

	// Delay is added to every frame's delivery time.
	Delay time.Duration
	// Rate limits each direction to this many bytes per second (frame bytes, Ethernet header
	// included); zero means unlimited. Frames wait in the queue for their turn on the wire.
	Rate int64
}

func (im *Impairments) random() bool {
	return im.Loss > 0 || im.Duplicate > 0 || im.Reorder > 0 || im.Corrupt > 0
}

func (im *Impairments) validate() error {
	for _, p := range []float64{im.Loss, im.Duplicate, im.Reorder, im.Corrupt} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("%w: probability %v outside [0, 1]", ErrBadConfig, p)
		}
	}
	if im.Delay < 0 || im.ReorderWindow < 0 || im.Rate < 0 {
		return fmt.Errorf("%w: negative delay, reorder window or rate", ErrBadConfig)
	}
	return nil
}

// Link is one end of a pipe. It implements [link.Link]; its methods are safe for
// concurrent use.
type Link struct {
	mac      net.HardwareAddr
	mtu      int
	features link.Features
	batch    int

	peer *Link
	// rx holds the frames travelling towards this end, in this end's buffers.
	rx *queue

	counters link.Counters

	startMu  sync.Mutex
	started  bool
	receiver atomic.Pointer[receiverBox]

	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{} // closed by Close
	exited    chan struct{} // closed when the delivery goroutine has ended
}

// receiverBox lets an interface value sit in an atomic.Pointer.
type receiverBox struct{ r link.Receiver }

var _ link.Link = (*Link)(nil)

// New returns the two connected ends of a new pipe. A nil cfg means the defaults.
func New(cfg *Config) (a, b *Link, err error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < 68 || c.MTU+link.EthernetHeaderLen > link.MaxGSOSize {
		return nil, nil, fmt.Errorf("%w: MTU %d", ErrBadConfig, c.MTU)
	}
	if c.QueueDepth == 0 {
		c.QueueDepth = DefaultQueueDepth
	}
	if c.QueueDepth < 1 || c.QueueDepth > 1<<20 {
		return nil, nil, fmt.Errorf("%w: queue depth %d", ErrBadConfig, c.QueueDepth)
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchSize < 1 {
		return nil, nil, fmt.Errorf("%w: batch size %d", ErrBadConfig, c.BatchSize)
	}
	if c.Features.Has(link.FeatureTxTSO4) || c.Features.Has(link.FeatureTxTSO6) {
		if !c.Features.Has(link.FeatureRxGRO) {
			return nil, nil, fmt.Errorf("%w: TSO needs FeatureRxGRO on the peer", ErrBadConfig)
		}
		c.Features |= link.FeatureTxCsum // TSO implies it
	}
	if err := c.Impair.validate(); err != nil {
		return nil, nil, err
	}
	if c.MACA == nil {
		c.MACA = defaultMACA
	}
	if c.MACB == nil {
		c.MACB = defaultMACB
	}
	if len(c.MACA) != 6 || len(c.MACB) != 6 {
		return nil, nil, fmt.Errorf("%w: MACs must be 6 bytes", ErrBadConfig)
	}
	a = newLink(&c, c.MACA, 1)
	b = newLink(&c, c.MACB, 2)
	a.peer, b.peer = b, a
	return a, b, nil
}

func newLink(c *Config, mac net.HardwareAddr, id uint64) *Link {
	l := &Link{
		mac:      append(net.HardwareAddr(nil), mac...),
		mtu:      c.MTU,
		features: c.Features,
		batch:    c.BatchSize,
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	l.rx = newQueue(l, c, id)
	return l
}

// MAC implements [link.Link.MAC].
func (l *Link) MAC() net.HardwareAddr { return l.mac }

// MTU implements [link.Link.MTU].
func (l *Link) MTU() int { return l.mtu }

// Features implements [link.Link.Features].
func (l *Link) Features() link.Features { return l.features }

// Peer returns the other end of the pipe.
func (l *Link) Peer() *Link { return l.peer }

// Start implements [link.Link.Start]: it starts the goroutine that delivers frames
// transmitted by the peer to r. Frames the peer transmitted before Start were dropped. It
// returns [link.ErrNilReceiver], [link.ErrStarted] or [link.ErrClosed] as the contract says.
func (l *Link) Start(r link.Receiver) error {
	if r == nil {
		return link.ErrNilReceiver
	}
	l.startMu.Lock()
	defer l.startMu.Unlock()
	if l.closed.Load() {
		return link.ErrClosed
	}
	if l.started {
		return link.ErrStarted
	}
	l.started = true
	l.receiver.Store(&receiverBox{r})
	l.rx.start()
	go l.deliverLoop(r)
	return nil
}

// Transmit implements [link.Link.Transmit]. It copies each frame into a buffer of the peer
// and queues it; when the peer has no free buffer it blocks until its receiver releases one or
// either end is closed, or drops the frame when the receiver is stuck inside DeliverFrames
// (see the package documentation). It returns [link.ErrClosed] after Close, [link.ErrLinkDown] once
// the peer is closed and [link.ErrFrameTooLarge] for a frame longer than MTU+14 bytes (or
// [link.MaxGSOSize] for a GSO frame when TSO is enabled), with the number of frames taken
// before it.
func (l *Link) Transmit(frames []link.Frame) (int, error) {
	if l.closed.Load() {
		return 0, link.ErrClosed
	}
	return l.peer.rx.push(l, frames)
}

// Release implements [link.Link.Release]. Frames that did not come from this end, or were
// already released, are ignored.
func (l *Link) Release(frames []link.Frame) { l.rx.release(frames) }

// Up implements [link.Link.Up]: the link is up while neither end is closed.
func (l *Link) Up() bool { return !l.closed.Load() && !l.peer.closed.Load() }

// Stats implements [link.Link.Stats].
func (l *Link) Stats() link.Stats { return l.counters.Snapshot() }

// Close implements [link.Link.Close]. It wakes transmitters blocked on either end, waits
// for this end's delivery goroutine to end and tells the peer's receiver that the link went
// down. Frames still queued towards this end are discarded. It is idempotent and always
// returns nil.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.startMu.Lock()
		l.closed.Store(true)
		started := l.started
		l.startMu.Unlock()
		close(l.done)
		l.rx.close()
		l.peer.rx.wakeAll() // our own transmitters blocked on the peer's buffers
		if started {
			<-l.exited
		}
		if !l.peer.closed.Load() {
			if rb := l.peer.receiver.Load(); rb != nil {
				rb.r.LinkStateChanged(false)
			}
		}
	})
	return nil
}

// deliverLoop hands the frames queued towards l to r in batches until l is closed.
func (l *Link) deliverLoop(r link.Receiver) {
	defer close(l.exited)
	frames := make([]link.Frame, l.batch)
	for {
		n, bytes := l.rx.pop(frames)
		if n == 0 {
			return // closed
		}
		l.counters.Received(n, bytes)
		r.DeliverFrames(frames[:n])
		l.rx.returned.Add(1)
	}
}
