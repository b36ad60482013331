package netfront

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/trace"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenbus"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// Names of the runtime/trace regions of the driver's batches: frames put on a transmit ring,
// and frames taken from a receive ring and delivered. A region costs one check of
// trace.IsEnabled when no trace is being taken.
const (
	traceTx = "unikit.xen.tx"
	traceRx = "unikit.xen.rx"
)

// Errors of the netfront driver.
var (
	// ErrBackend wraps every violation of the netif protocol by the back end; the link has
	// failed and stays down (see Link.Err).
	ErrBackend = errors.New("netfront: misbehaving back end")
	// ErrUnsupported is returned when the back end lacks a feature the driver needs.
	ErrUnsupported = errors.New("netfront: back end feature missing")
)

// mtu is the IP MTU of a vif; Xen has no MTU negotiation, Linux netfront uses ETH_DATA_LEN.
const mtu = 1500

// Config configures a netfront Link. Grants, Events and Store are required.
type Config struct {
	// Grants, Events and Store are this domain's hypervisor interfaces.
	Grants xenfront.GrantTable
	Events xenfront.EventChannels
	Store  xenstore.Store

	// Dir is the device's xenstore directory, relative to the domain's home; default
	// "device/vif/0".
	Dir string

	// Queues is how many queue pairs to ask for, bounded by the back end's
	// multi-queue-max-queues; default 1.
	Queues int

	// NoGSO disables segmentation offload in both directions.
	NoGSO bool

	// Logger receives connection events and back-end errors; default slog.Default().
	Logger *slog.Logger
}

// Link is a Xen netfront network interface. It implements link.Link.
//
// Transmit copies each frame into pages granted read-only to the back end when the link
// connected, and blocks while the TX ring is full. Received frames are lent to the receiver
// straight from the pages the back end copied them into, without a copy; Release re-posts the
// pages on the RX ring.
type Link struct {
	cfg      Config
	dir      string
	log      *slog.Logger
	dev      atomic.Pointer[device] // the toolstack's keys, read again when the device returns
	mac      net.HardwareAddr       // the first device's address, for the link's lifetime
	features link.Features
	counters link.Counters

	conn    atomic.Pointer[connection]
	up      atomic.Bool
	started chan struct{} // closed by Start
	closing atomic.Bool   // Close has begun: the supervisor must not reconnect, Start refuses
	failCh  chan struct{} // a queue found the back end broken

	// deliverMu serialises DeliverFrames across queues, as the Link contract requires.
	deliverMu sync.Mutex

	mu       sync.Mutex
	recv     link.Receiver
	err      error                  // first failure; the link stays down
	gen      uint16                 // generation of the newest connection
	draining map[uint16]*connection // torn-down connections with frames still lent

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var _ link.Link = (*Link)(nil)

// Open connects to the back end of the device in cfg.Dir (the handshake of io/netif.h and
// io/xenbus.h) and returns the link once both ends are Connected. The link then follows the
// back end: when it closes, the link goes down (Up false, LinkStateChanged(false)), releases
// the rings, and connects again with fresh rings when the back end returns, then goes up.
//
// The back end returns either in place (a driver domain restart: Closed, then InitWait once
// the front end is Initialising again) or as a new device: the toolstack's detach (xl
// network-detach) writes the back end's online 0 and state Closing, waits for Closed and
// removes both xenstore directories, and its attach (xl network-attach) creates them again
// under the same cfg.Dir, with the back end in InitWait. The link never writes into a
// removed directory (a state switch reads the state key in its transaction first, as
// Linux's xenbus_switch_state does), waits for the directory to return, and reads the
// toolstack's keys again; the device must come back under cfg.Dir (the devid of a new attach
// is the lowest free one, 0 for a domain's only vif). A new mac is not taken: link.Link users
// read MAC once, so the link keeps its first address and logs the change; the back end does
// not filter the front end's source address.
func Open(ctx context.Context, cfg *Config) (*Link, error) {
	if cfg == nil || cfg.Grants == nil || cfg.Events == nil || cfg.Store == nil {
		return nil, errors.New("netfront: Config needs Grants, Events and Store")
	}
	l := &Link{cfg: *cfg, dir: cfg.Dir, log: cfg.Logger, started: make(chan struct{}),
		failCh: make(chan struct{}, 1), draining: map[uint16]*connection{}, done: make(chan struct{})}
	if l.dir == "" {
		l.dir = "device/vif/0"
	}
	l.dir = strings.TrimSuffix(l.dir, "/")
	if l.log == nil {
		l.log = slog.Default()
	}
	l.log = l.log.With("vif", l.dir)
	l.cfg.Queues = max(1, min(l.cfg.Queues, maxQueues))
	dev, err := readDevice(l.cfg.Store, l.dir)
	if err != nil {
		return nil, fmt.Errorf("netfront: %w", err)
	}
	l.dev.Store(&dev)
	l.mac = dev.mac
	l.ctx, l.cancel = context.WithCancel(context.Background())
	c, err := l.connect(ctx, true)
	if err != nil {
		l.cancel()
		_ = l.setState(xenbus.StateClosed)
		return nil, fmt.Errorf("netfront: %w", err)
	}
	go l.supervise(c)
	return l, nil
}

// MAC implements link.Link: the mac key of the device when the link opened. It stays the
// link's address when the toolstack attaches the vif again with another one (see Open).
func (l *Link) MAC() net.HardwareAddr { return l.mac }

// MTU implements link.Link.
func (l *Link) MTU() int { return mtu }

// Features implements link.Link: checksum offload both ways, and TSO/GRO when negotiated.
func (l *Link) Features() link.Features { return l.features }

// Up implements link.Link.
func (l *Link) Up() bool { return l.up.Load() }

// Stats implements link.Link.
func (l *Link) Stats() link.Stats { return l.counters.Snapshot() }

// Err returns why the link failed, or nil while it works. A failed link stays down.
func (l *Link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Start implements link.Link: it returns link.ErrNilReceiver for a nil r, link.ErrClosed once
// Close has begun and link.ErrStarted when the link was started before. A link the back end
// broke (see Err) can still be started; it delivers nothing.
func (l *Link) Start(r link.Receiver) error {
	if r == nil {
		return link.ErrNilReceiver
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing.Load() {
		return link.ErrClosed
	}
	if l.recv != nil {
		return link.ErrStarted
	}
	l.recv = r
	close(l.started)
	return nil
}

// receiver returns the receiver Start installed, or nil before Start and after Close.
func (l *Link) receiver() link.Receiver {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recv
}

// setUp records the link state and tells the receiver when it changed.
func (l *Link) setUp(up bool) {
	if l.up.Swap(up) != up {
		if r := l.receiver(); r != nil {
			r.LinkStateChanged(up)
		}
	}
}

// fail records a back-end violation; the supervisor tears the connection down.
func (l *Link) fail(err error) {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = err
	}
	l.mu.Unlock()
	if first {
		l.log.Error("netfront: back end broken, link stopped", "err", err)
		l.up.Store(false)
		select {
		case l.failCh <- struct{}{}:
		default:
		}
	}
}

// Close implements link.Link: it tells the back end the device is closing, waits briefly
// for it to follow, releases the rings and grants and ends the link's goroutines. Pages a back
// end keeps mapped are never reused (they are leaked, and logged). It is idempotent.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.closing.Store(true)
		c := l.conn.Load()
		if c != nil && l.Err() == nil {
			_ = l.setState(xenbus.StateClosing)
			l.awaitBackendClosing()
		}
		l.cancel()
		<-l.done
		_ = l.setState(xenbus.StateClosed)
		l.mu.Lock()
		if l.recv == nil {
			close(l.started)
		}
		l.recv = nil
		l.mu.Unlock()
	})
	return nil
}

// Transmit implements link.Link. Each frame is copied into granted pages; Transmit blocks
// while the ring is full. A frame the link cannot carry (too large, an unsupported GSO type) is
// dropped, counted in TxDropped, and counts as taken; a TCP GSO frame longer than the 65535
// bytes a netif packet holds goes as two, cut at a segment boundary. It returns
// link.ErrLinkDown while the back end is not connected or after the link failed, and
// link.ErrClosed after Close, also to a Transmit blocked when Close began.
func (l *Link) Transmit(frames []link.Frame) (int, error) {
	defer trace.StartRegion(context.Background(), traceTx).End()
	c := l.conn.Load()
	// A failed link is marked down before its connection is torn down: it must not take
	// frames in between.
	if c == nil || !l.up.Load() {
		return 0, l.downErr()
	}
	n := 0
	for n < len(frames) {
		q := c.queues[c.queueFor(&frames[n])]
		k, err := q.transmit(frames[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// downErr is why Transmit cannot send: link.ErrClosed once Close has begun tearing the link
// down, link.ErrLinkDown while the back end is away or after a failure.
func (l *Link) downErr() error {
	if l.ctx.Err() != nil {
		return link.ErrClosed
	}
	return link.ErrLinkDown
}

// Release implements link.Link: the frames' pages go back on the RX ring.
func (l *Link) Release(frames []link.Frame) {
	for i := range frames {
		gen, qi, rec := splitCookie(frames[i].Cookie)
		c := l.connectionOf(gen)
		if c == nil || int(qi) >= len(c.queues) {
			continue
		}
		if c.queues[qi].releaseFrame(rec) {
			// The last lent frame of a torn-down connection is back.
			l.mu.Lock()
			delete(l.draining, gen)
			l.mu.Unlock()
		}
	}
}

// connectionOf returns the connection of generation gen: the current one, or a torn-down one
// whose frames are still lent; nil if there is none.
func (l *Link) connectionOf(gen uint16) *connection {
	if c := l.conn.Load(); c != nil && c.gen == gen {
		return c
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draining[gen]
}
