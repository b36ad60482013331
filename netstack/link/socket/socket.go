package socket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// Limits of the wire format.
const (
	// MinFrameLen is the shortest frame the link sends or delivers: an Ethernet header.
	MinFrameLen = link.EthernetHeaderLen
	// DefaultMaxFrameLen is the default largest frame: passt skips longer ones, and it is the
	// largest frame an MTU of 65520 (what passt offers by DHCP) produces, plus a VLAN tag.
	DefaultMaxFrameLen = 65535
	// MaxFrameLenLimit is QEMU's NET_BUFSIZE (4096 + 65536): QEMU drops the connection when a
	// length prefix exceeds it, so no configuration may go beyond it.
	MaxFrameLenLimit = 69632
	// DefaultMTU is the MTU of a link whose Config leaves MTU zero.
	DefaultMTU = 1500

	hdrLen = 4 // the big-endian length prefix
)

// Sizing of the link's buffers. Each constant bounds what a peer can make the link allocate.
const (
	// rxBatch is the most frames delivered in one DeliverFrames call.
	rxBatch = 64
	// readBufSize is the read buffer: a 1514-byte frame stream yields about 40 frames per
	// read system call, and a 64 KiB frame needs at most two reads.
	readBufSize = 64 << 10
	// txBufSize is the transmit buffer a batch of records is built in before one write; it
	// grows to hold one maximal record if that is larger.
	txBufSize = 256 << 10
	// smallBufs is how many MTU-sized receive buffers the pool may hold.
	smallBufs = 256
	// largeBufs is how many receive buffers of MaxFrameLen bytes the pool may hold, for the
	// rare frame larger than the MTU.
	largeBufs = 16
	// acceptBackoff is the pause after a failed Accept (e.g. EMFILE) before the next try.
	acceptBackoff = 100 * time.Millisecond
)

// Errors of this package. Errors that the stack's adapter interprets are the netstack
// sentinels themselves ([link.ErrClosed], [link.ErrLinkDown]).
var (
	// ErrOversized is the protocol error of a length prefix above Config.MaxFrameLen; the
	// link closes the connection that sent it.
	ErrOversized = errors.New("socket: frame length prefix too large")
	// ErrTruncated is the protocol error of a connection that ended inside a frame.
	ErrTruncated = errors.New("socket: connection ended inside a frame")
	// ErrOffload is returned by Transmit for a frame with checksum or segmentation work
	// pending, which the stream protocol cannot carry.
	ErrOffload = errors.New("socket: frame needs offload work the link does not support")
	// ErrRunt is returned by Transmit for a frame shorter than an Ethernet header.
	ErrRunt = errors.New("socket: frame shorter than an Ethernet header")
)

// Config configures a link. A nil *Config, and every zero field, means the default.
type Config struct {
	// MAC is the link's Ethernet address. Default: a random locally administered unicast
	// address (passt and QEMU learn the guest's MAC from its frames).
	MAC net.HardwareAddr
	// MTU is the largest IP packet the link reports, without the Ethernet header.
	// Default [DefaultMTU]. MTU+14 must not exceed MaxFrameLen.
	MTU int
	// MaxFrameLen is the largest frame, Ethernet header included, the link accepts from the
	// peer and sends to it; a longer length prefix is a protocol error that closes the
	// connection. Default [DefaultMaxFrameLen]; at most [MaxFrameLenLimit].
	MaxFrameLen int
	// Logger receives connection events and protocol errors. Default: slog.Default().
	Logger *slog.Logger
}

// Link is a [link.Link] over a stream socket carrying the QEMU stream protocol. Its
// methods are safe for concurrent use.
//
// Transmit blocks while the socket's send buffer is full (back-pressure from the peer) and
// serialises concurrent callers. It returns [link.ErrLinkDown] while no peer is connected
// and when the write fails (the connection is then closed and the link goes down).
//
// DeliverFrames is called from one goroutine of the link at a time; the receiver must not
// call Close from inside it.
type Link struct {
	mac      net.HardwareAddr
	mtu      int
	maxFrame int
	log      *slog.Logger
	ctr      link.Counters

	ln       net.Listener // nil unless the link serves a listener
	dialConn net.Conn     // the connection of a client link until Start takes it

	recv link.Receiver // set once by Start, read only by the link's goroutine

	// mu orders the installation of sessions against Close.
	mu      sync.Mutex
	closed  bool
	started bool
	cur     *session // the connected session, nil while down

	isClosed atomic.Bool
	up       atomic.Bool
	done     chan struct{} // closed by Close
	wg       sync.WaitGroup

	// txMu serialises Transmit and guards txBuf.
	txMu  sync.Mutex
	txBuf []byte

	rx rxState
}

var _ link.Link = (*Link)(nil)

// session is one connected peer.
type session struct {
	conn net.Conn
	once sync.Once
}

func (s *session) close() { s.once.Do(func() { s.conn.Close() }) }

// New returns a link over conn, which must carry the QEMU stream protocol. The link takes
// ownership of conn and closes it in Close. It is up until the peer disconnects; frames are
// read once Start is called.
func New(conn net.Conn, cfg *Config) (*Link, error) {
	l, err := newLink(cfg)
	if err != nil {
		return nil, err
	}
	l.attach(conn)
	return l, nil
}

// attach makes conn the connection of a client link.
func (l *Link) attach(conn net.Conn) {
	l.dialConn = conn
	l.cur = &session{conn: conn}
	l.up.Store(true)
}

// Dial connects to a peer listening at address ("unix" path or "tcp" host:port), such as
// passt's socket or QEMU's `-netdev stream,server=on`, and returns a link over the
// connection. When the peer disconnects, the link goes down and stays down.
func Dial(ctx context.Context, network, address string, cfg *Config) (*Link, error) {
	// The configuration is checked before connecting: passt serves a single client and would
	// otherwise be spent on a link that is never used.
	l, err := newLink(cfg)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	l.attach(conn)
	return l, nil
}

// Listen listens at address ("unix" path or "tcp" host:port) and returns a link that serves
// one peer at a time, as QEMU's `-netdev stream,server=on` does. The link is down until a
// peer connects after Start; see [NewServer]. A UNIX socket path must not exist yet.
func Listen(network, address string, cfg *Config) (*Link, error) {
	l, err := newLink(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	l.ln = ln
	return l, nil
}

// NewServer returns a link that accepts peers from ln, one at a time. The link is down until a
// peer connects (after Start), goes down when that peer disconnects or violates the protocol,
// and up again when the next peer is accepted; each change is reported to the receiver.
// The link takes ownership of ln and closes it in Close.
func NewServer(ln net.Listener, cfg *Config) (*Link, error) {
	l, err := newLink(cfg)
	if err != nil {
		return nil, err
	}
	l.ln = ln
	return l, nil
}

func newLink(cfg *Config) (*Link, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MaxFrameLen == 0 {
		c.MaxFrameLen = max(DefaultMaxFrameLen, c.MTU+MinFrameLen)
	}
	if c.MaxFrameLen < MinFrameLen || c.MaxFrameLen > MaxFrameLenLimit {
		return nil, fmt.Errorf("socket: MaxFrameLen %d outside [%d, %d]", c.MaxFrameLen, MinFrameLen, MaxFrameLenLimit)
	}
	if c.MTU < 68 || c.MTU+MinFrameLen > c.MaxFrameLen {
		return nil, fmt.Errorf("socket: MTU %d outside [68, MaxFrameLen-14 = %d]", c.MTU, c.MaxFrameLen-MinFrameLen)
	}
	if c.MAC == nil {
		c.MAC = link.RandomMAC()
	} else if len(c.MAC) != 6 {
		return nil, fmt.Errorf("socket: MAC %v is not a 6-byte Ethernet address", c.MAC)
	} else {
		c.MAC = append(net.HardwareAddr(nil), c.MAC...)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	l := &Link{
		mac:      c.MAC,
		mtu:      c.MTU,
		maxFrame: c.MaxFrameLen,
		log:      c.Logger.With("link", "socket"),
		done:     make(chan struct{}),
		txBuf:    make([]byte, 0, max(txBufSize, hdrLen+c.MaxFrameLen)),
	}
	l.rx.init(l.mtu+MinFrameLen+4, l.maxFrame, readBufSize)
	return l, nil
}

// MAC implements [link.Link.MAC].
func (l *Link) MAC() net.HardwareAddr { return l.mac }

// MTU implements [link.Link.MTU].
func (l *Link) MTU() int { return l.mtu }

// Features implements [link.Link.Features]: the stream protocol carries complete frames
// only, so there are none.
func (l *Link) Features() link.Features { return 0 }

// Up implements [link.Link.Up]: whether a peer is connected.
func (l *Link) Up() bool { return l.up.Load() }

// Stats implements [link.Link.Stats].
func (l *Link) Stats() link.Stats { return l.ctr.Snapshot() }

// Addr returns the address a server link listens on, or the peer's address for a client link
// (nil when unknown).
func (l *Link) Addr() net.Addr {
	if l.ln != nil {
		return l.ln.Addr()
	}
	if l.dialConn != nil {
		return l.dialConn.RemoteAddr()
	}
	return nil
}

// Start implements [link.Link.Start]: a client link starts reading frames, a server link
// starts accepting peers. It returns [link.ErrNilReceiver], [link.ErrStarted] or
// [link.ErrClosed] as the contract says.
func (l *Link) Start(r link.Receiver) error {
	if r == nil {
		return link.ErrNilReceiver
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return link.ErrClosed
	}
	if l.started {
		return link.ErrStarted
	}
	l.started = true
	l.recv = r
	l.wg.Add(1)
	if l.ln != nil {
		go l.serve()
	} else {
		go l.runClient(l.cur)
	}
	return nil
}

// runClient reads the client connection until it ends.
func (l *Link) runClient(s *session) {
	defer l.wg.Done()
	if s == nil {
		return
	}
	l.runSession(s)
}

// serve accepts peers one at a time and reads each until it disconnects.
func (l *Link) serve() {
	defer l.wg.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.isClosed.Load() {
				return
			}
			l.log.Warn("accept failed", "addr", l.ln.Addr(), "err", err)
			select {
			case <-l.done:
				return
			case <-time.After(acceptBackoff):
			}
			continue
		}
		s := &session{conn: conn}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			conn.Close()
			return
		}
		l.cur = s
		l.up.Store(true)
		l.mu.Unlock()
		l.log.Info("peer connected", "addr", l.ln.Addr(), "peer", conn.RemoteAddr())
		l.recv.LinkStateChanged(true)
		l.runSession(s)
	}
}

// runSession reads frames from s until the connection ends, then takes the link down.
func (l *Link) runSession(s *session) {
	err := l.receive(s.conn)
	s.close()
	l.mu.Lock()
	if l.cur == s {
		l.cur = nil
	}
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return
	}
	l.up.Store(false)
	switch {
	case err == nil:
		l.log.Info("peer disconnected", "peer", s.conn.RemoteAddr())
	case errors.Is(err, ErrOversized):
		l.log.Error("protocol error, connection closed", "peer", s.conn.RemoteAddr(), "err", err)
	default:
		l.log.Warn("connection failed", "peer", s.conn.RemoteAddr(), "err", err)
	}
	l.recv.LinkStateChanged(false)
}

// receive reads and delivers frames from r until r ends (nil at a frame boundary), the link is
// closed (nil) or the stream violates the protocol or fails (the error). Frames shorter than
// an Ethernet header are skipped and counted as dropped; errors are counted as RxErrors.
func (l *Link) receive(r io.Reader) error {
	rx := &l.rx
	rx.reset(r)
	for {
		batch, err := rx.readBatch(l.maxFrame, l.done, &l.ctr)
		if len(batch) > 0 {
			bytes := 0
			for i := range batch {
				bytes += len(batch[i].Segments[0])
			}
			l.ctr.Received(len(batch), bytes)
			l.recv.DeliverFrames(batch)
			clear(batch)
		}
		if err != nil {
			if err == io.EOF || l.isClosed.Load() {
				return nil // the peer's orderly end, or Close
			}
			l.ctr.RxError()
			return err
		}
	}
}

// Release implements [link.Link.Release]. Frames that did not come from this link, or
// were already released, are ignored and logged.
func (l *Link) Release(frames []link.Frame) {
	for i := range frames {
		if !l.rx.pool.put(frames[i].Cookie) {
			l.log.Warn("release of a frame the link did not lend", "cookie", frames[i].Cookie)
		}
	}
}

// Transmit implements [link.Link.Transmit]. It writes the frames as back-to-back
// [length][frame] records, as many per write as fit in the link's transmit buffer, and
// returns after the last write. A frame shorter than 14 bytes ([ErrRunt]), longer than
// MaxFrameLen ([link.ErrFrameTooLarge]) or with offload work pending ([ErrOffload]) stops
// the batch: the frames before it are sent and their count is returned with the error.
func (l *Link) Transmit(frames []link.Frame) (int, error) {
	if l.isClosed.Load() {
		return 0, link.ErrClosed
	}
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.mu.Lock()
	s := l.cur
	l.mu.Unlock()
	if s == nil {
		if l.isClosed.Load() {
			return 0, link.ErrClosed
		}
		l.ctr.TxDropped(len(frames))
		return 0, link.ErrLinkDown
	}
	buf := l.txBuf[:0]
	sent, pending, pendingBytes := 0, 0, 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := s.conn.Write(buf)
		buf = buf[:0]
		if err != nil {
			l.ctr.TxError()
			l.ctr.TxDropped(pending)
			if !l.isClosed.Load() {
				l.log.Warn("write failed, connection closed", "peer", s.conn.RemoteAddr(), "err", err)
			}
			s.close() // the reader sees the end and takes the link down
			pending, pendingBytes = 0, 0
			if l.isClosed.Load() {
				return link.ErrClosed
			}
			return link.ErrLinkDown
		}
		l.ctr.Sent(pending, pendingBytes)
		sent += pending
		pending, pendingBytes = 0, 0
		return nil
	}
	for i := range frames {
		f := &frames[i]
		n := f.Len()
		var bad error
		switch {
		case f.Offload.Flags&link.FlagNeedsCsum != 0 || f.Offload.GSOType != link.GSONone:
			bad = ErrOffload
		case n < MinFrameLen:
			bad = ErrRunt
		case n > l.maxFrame:
			bad = link.ErrFrameTooLarge
		}
		if bad != nil {
			l.ctr.TxDropped(1)
			if err := flush(); err != nil {
				return sent, err
			}
			return sent, bad
		}
		if len(buf)+hdrLen+n > cap(buf) {
			if err := flush(); err != nil {
				return sent, err
			}
		}
		buf = appendRecord(buf, f.Segments, n)
		pending++
		pendingBytes += n
	}
	err := flush()
	return sent, err
}

// Close implements [link.Link.Close]: it closes the listener and the connection and waits
// for the link's goroutines. It is idempotent.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	l.isClosed.Store(true)
	l.up.Store(false)
	s := l.cur
	l.cur = nil
	l.mu.Unlock()
	close(l.done)
	var err error
	if l.ln != nil {
		err = l.ln.Close()
	}
	if s != nil {
		s.close()
	}
	l.wg.Wait()
	return err
}
