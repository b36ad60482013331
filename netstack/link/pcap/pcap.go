package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// libpcap file format constants.
const (
	// MagicMicroseconds is the magic number of a capture with microsecond timestamps.
	MagicMicroseconds = 0xa1b2c3d4
	// MagicNanoseconds is the magic number of a capture with nanosecond timestamps.
	MagicNanoseconds = 0xa1b23c4d
	// LinkTypeEthernet is LINKTYPE_ETHERNET, the link type of every capture this package writes.
	LinkTypeEthernet = 1
	// FileHeaderLen is the length of the global header at the start of the file.
	FileHeaderLen = 24
	// RecordHeaderLen is the length of the header before each frame.
	RecordHeaderLen = 16
	// DefaultSnaplen is libpcap's largest snap length for Ethernet: it keeps GSO super-frames
	// whole.
	DefaultSnaplen = 262144
	// DefaultBufferSize is the capture ring's size when Config.BufferSize is zero: 64 full
	// super-frames, or about 2800 frames of 1500 bytes.
	DefaultBufferSize = 4 << 20
)

// Config configures a capture. The zero value, like nil, means microsecond timestamps, snap
// length [DefaultSnaplen] and a ring of [DefaultBufferSize] bytes.
type Config struct {
	// Nanoseconds writes nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds.
	Nanoseconds bool
	// Snaplen is the largest number of bytes captured of a frame; longer frames are cut and
	// recorded with their original length. Zero means [DefaultSnaplen]; at least 64.
	Snaplen int
	// BufferSize is the size of the ring between the link and the writer goroutine. Zero means
	// [DefaultBufferSize]; it is raised to hold at least one record of Snaplen bytes.
	BufferSize int
}

// CaptureStats count what a capture recorded.
type CaptureStats struct {
	Frames  uint64 // frames recorded
	Bytes   uint64 // record bytes (headers included) written to the io.Writer
	Dropped uint64 // frames not recorded because the ring was full or writing had failed
}

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("pcap: capture closed")

// Link is a [link.Link] that passes everything through to an inner link and records every
// frame transmitted or received. Its methods are safe for concurrent use.
type Link struct {
	inner     link.Link
	w         io.Writer
	nano      bool
	snaplen   int
	frames    atomic.Uint64
	dropped   atomic.Uint64
	closeOnce sync.Once
	closeErr  error
	exited    chan struct{}

	mu        sync.Mutex
	cond      sync.Cond // signalled when data is added, written, or flushing or closing starts
	ring      []byte
	rd, wr    uint64 // total bytes read from and written into the ring; wr-rd are pending
	waiting   bool   // the writer goroutine waits for data
	flushReq  uint64 // flush generation requested
	flushAt   uint64 // wr when it was requested: the flush waits for what was captured before
	flushDone uint64 // flush generation done
	closing   bool
	err       error
}

var _ link.Link = (*Link)(nil)

// New wraps inner so that every frame it transmits or receives is written to w in libpcap
// format. The file header is written first. A nil cfg means the defaults. The caller keeps
// ownership of w; Close does not close it.
func New(inner link.Link, w io.Writer, cfg *Config) *Link {
	var o Config
	if cfg != nil {
		o = *cfg
	}
	if o.Snaplen <= 0 {
		o.Snaplen = DefaultSnaplen
	}
	o.Snaplen = max(o.Snaplen, 64)
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	o.BufferSize = max(o.BufferSize, RecordHeaderLen+o.Snaplen, FileHeaderLen)
	l := &Link{
		inner:   inner,
		w:       w,
		nano:    o.Nanoseconds,
		snaplen: o.Snaplen,
		ring:    make([]byte, o.BufferSize),
		exited:  make(chan struct{}),
	}
	l.cond.L = &l.mu
	var h [FileHeaderLen]byte
	magic := uint32(MagicMicroseconds)
	if o.Nanoseconds {
		magic = MagicNanoseconds
	}
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	// thiszone and sigfigs (8..15) are zero.
	binary.LittleEndian.PutUint32(h[16:], uint32(o.Snaplen))
	binary.LittleEndian.PutUint32(h[20:], LinkTypeEthernet)
	l.put(h[:])
	go l.writeLoop()
	return l
}

// Inner returns the wrapped link.
func (l *Link) Inner() link.Link { return l.inner }

// MAC implements [link.Link.MAC].
func (l *Link) MAC() net.HardwareAddr { return l.inner.MAC() }

// MTU implements [link.Link.MTU].
func (l *Link) MTU() int { return l.inner.MTU() }

// Features implements [link.Link.Features].
func (l *Link) Features() link.Features { return l.inner.Features() }

// Up implements [link.Link.Up].
func (l *Link) Up() bool { return l.inner.Up() }

// Stats implements [link.Link.Stats]: the inner link's counters.
func (l *Link) Stats() link.Stats { return l.inner.Stats() }

// Release implements [link.Link.Release].
func (l *Link) Release(frames []link.Frame) { l.inner.Release(frames) }

// Start implements [link.Link.Start]: received frames are recorded before r sees them. It
// returns [link.ErrNilReceiver] for a nil r, and otherwise what the inner link's Start returns.
func (l *Link) Start(r link.Receiver) error {
	if r == nil {
		return link.ErrNilReceiver
	}
	return l.inner.Start(&tap{l: l, r: r})
}

// Transmit implements [link.Link.Transmit]. The frames are recorded before the inner link
// gets them, as Linux's packet taps record outgoing packets before the driver: a reply the
// peer sends at once then never appears in the capture before the frame it answers. A frame
// the inner link refuses (closed, down, too large) is recorded all the same.
func (l *Link) Transmit(frames []link.Frame) (int, error) {
	l.capture(frames)
	return l.inner.Transmit(frames)
}

// tap is the Receiver the inner link delivers to.
type tap struct {
	l *Link
	r link.Receiver
}

func (t *tap) DeliverFrames(frames []link.Frame) {
	t.l.capture(frames)
	t.r.DeliverFrames(frames)
}

func (t *tap) LinkStateChanged(up bool) { t.r.LinkStateChanged(up) }

// CaptureStats returns the capture's counters.
func (l *Link) CaptureStats() CaptureStats {
	l.mu.Lock()
	written := l.rd
	l.mu.Unlock()
	if written >= FileHeaderLen {
		written -= FileHeaderLen
	}
	return CaptureStats{Frames: l.frames.Load(), Bytes: written, Dropped: l.dropped.Load()}
}

// Err returns the error that stopped writing the capture, if any.
func (l *Link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// capture records frames in the ring, or counts them as dropped when it has no room.
func (l *Link) capture(frames []link.Frame) {
	now := time.Now()
	sec := uint32(now.Unix())
	frac := uint32(now.Nanosecond())
	if !l.nano {
		frac /= 1000
	}
	var h [RecordHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], sec)
	binary.LittleEndian.PutUint32(h[4:], frac)
	l.mu.Lock()
	stopped := l.err != nil || l.closing // nothing would write the record out
	added := 0
	for i := range frames {
		f := &frames[i]
		n := f.Len()
		incl := min(n, l.snaplen)
		if stopped || uint64(len(l.ring))-(l.wr-l.rd) < uint64(RecordHeaderLen+incl) {
			l.dropped.Add(1)
			continue
		}
		binary.LittleEndian.PutUint32(h[8:], uint32(incl))
		binary.LittleEndian.PutUint32(h[12:], uint32(n))
		l.put(h[:])
		left := incl
		for _, s := range f.Segments {
			if left == 0 {
				break
			}
			s = s[:min(len(s), left)]
			l.put(s)
			left -= len(s)
		}
		added++
	}
	if added > 0 {
		l.frames.Add(uint64(added))
		if l.waiting {
			l.cond.Broadcast()
		}
	}
	l.mu.Unlock()
}

// put copies b into the ring, which has room for it; l.mu is held.
func (l *Link) put(b []byte) {
	size := uint64(len(l.ring))
	off := l.wr % size
	n := copy(l.ring[off:], b)
	copy(l.ring, b[n:])
	l.wr += uint64(len(b))
}

// writeLoop writes the ring out to w until the capture is closed and drained.
func (l *Link) writeLoop() {
	defer close(l.exited)
	size := uint64(len(l.ring))
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.err != nil {
			l.discard()
		}
		if l.flushDone < l.flushReq && l.rd >= l.flushAt {
			req := l.flushReq
			if f, ok := l.w.(interface{ Flush() error }); ok && l.err == nil {
				l.mu.Unlock()
				err := f.Flush()
				l.mu.Lock()
				if err != nil && l.err == nil {
					l.err = fmt.Errorf("pcap: flushing capture: %w", err)
				}
			}
			l.flushDone = req
			l.cond.Broadcast()
			continue
		}
		if l.wr > l.rd {
			// Write the contiguous part from rd; the rest comes in the next round.
			off := l.rd % size
			end := min(off+(l.wr-l.rd), size)
			chunk := l.ring[off:end]
			l.mu.Unlock()
			n, err := l.w.Write(chunk)
			n = max(0, min(n, len(chunk))) // whatever the writer claims
			if err == nil && n < len(chunk) {
				err = io.ErrShortWrite
			}
			l.mu.Lock()
			l.rd += uint64(n)
			if err != nil {
				l.err = fmt.Errorf("pcap: writing capture: %w", err)
				l.discard()
			}
			continue
		}
		if l.closing {
			return
		}
		l.waiting = true
		l.cond.Wait()
		l.waiting = false
	}
}

// discard drops what is pending after a write error; l.mu is held.
func (l *Link) discard() {
	l.rd = l.wr
}

// Flush waits until every frame captured so far has been written to the io.Writer, then
// flushes the io.Writer if it has a Flush method. It returns the error that stopped the
// capture, if any, and [ErrClosed] after Close.
func (l *Link) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return ErrClosed
	}
	return l.flushLocked()
}

func (l *Link) flushLocked() error {
	l.flushReq++
	l.flushAt = l.wr
	req := l.flushReq
	l.cond.Broadcast()
	for l.flushDone < req {
		l.cond.Wait()
	}
	return l.err
}

// Close closes the inner link, writes out and flushes what was captured (see [Link.Flush]) and
// ends the writer goroutine. It does not close the io.Writer. It returns the inner link's
// error or the error that stopped the capture; it is idempotent.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		innerErr := l.inner.Close()
		l.mu.Lock()
		werr := l.flushLocked()
		l.closing = true
		l.cond.Broadcast()
		l.mu.Unlock()
		<-l.exited
		l.closeErr = errors.Join(innerErr, werr)
	})
	return l.closeErr
}
