package socket

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/unikit/unikit/netstack/link"
)

// errLinkClosed ends a read that waits for a free buffer when the link is closed.
var errLinkClosed = errors.New("socket: link closed while reading")

// appendRecord appends one record, the 4-byte big-endian length n and the n bytes of segs, to
// buf, which must have room for it.
func appendRecord(buf []byte, segs [][]byte, n int) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	for _, s := range segs {
		buf = append(buf, s...)
	}
	return buf
}

// rxState is the receive side of a link: the buffered reader over the current connection, the
// buffer pool and the batch handed to the receiver. Only the link's reader goroutine uses it,
// except pool.put, which is safe from any goroutine.
type rxState struct {
	br    *bufio.Reader
	pool  pool
	batch []link.Frame
}

func (rx *rxState) init(smallSize, largeSize, readSize int) {
	rx.br = bufio.NewReaderSize(nil, readSize)
	rx.pool.init(smallSize, largeSize)
	rx.batch = make([]link.Frame, 0, rxBatch)
}

// reset points the reader at a new connection, discarding anything buffered from the last.
func (rx *rxState) reset(r io.Reader) { rx.br.Reset(r) }

// readBatch reads at least one frame, blocking for it, then every further frame that is
// already complete in the read buffer, up to rxBatch frames. It returns the batch (valid until
// the next call) and the error that ended reading, if any; a batch may come with an error.
// Records shorter than an Ethernet header are consumed, counted as dropped and skipped.
func (rx *rxState) readBatch(maxFrame int, done <-chan struct{}, ctr *link.Counters) ([]link.Frame, error) {
	batch := rx.batch[:0]
	for len(batch) < cap(batch) {
		if len(batch) > 0 && !rx.frameBuffered(maxFrame) {
			break
		}
		hdr, err := rx.br.Peek(hdrLen)
		if err != nil {
			if err == io.EOF && len(hdr) > 0 {
				err = ErrTruncated
			}
			return batch, err
		}
		n := binary.BigEndian.Uint32(hdr)
		if n > uint32(maxFrame) {
			rx.br.Discard(hdrLen)
			return batch, fmt.Errorf("%w: %d bytes, limit %d", ErrOversized, n, maxFrame)
		}
		if n < MinFrameLen {
			ctr.RxDropped(1)
			if _, err := rx.br.Discard(hdrLen + int(n)); err != nil {
				return batch, truncated(err)
			}
			continue
		}
		s, cookie, ok := rx.pool.tryGet(int(n))
		if !ok {
			if len(batch) > 0 {
				// Deliver what we have: the receiver may release buffers of this batch.
				break
			}
			if s, cookie, err = rx.pool.get(int(n), done); err != nil {
				return batch, err
			}
		}
		rx.br.Discard(hdrLen)
		buf := s.buf[:n]
		if _, err := io.ReadFull(rx.br, buf); err != nil {
			rx.pool.put(cookie)
			return batch, truncated(err)
		}
		s.seg[0] = buf
		batch = append(batch, link.Frame{Segments: s.seg[:], Cookie: cookie})
	}
	return batch, nil
}

// truncated maps the end of the stream inside a record to ErrTruncated.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	return err
}

// frameBuffered reports whether the read buffer holds a complete record, so reading it does not
// block. An invalid length counts as complete: reading it fails at once.
func (rx *rxState) frameBuffered(maxFrame int) bool {
	b := rx.br.Buffered()
	if b < hdrLen {
		return false
	}
	hdr, _ := rx.br.Peek(hdrLen)
	n := binary.BigEndian.Uint32(hdr)
	return n > uint32(maxFrame) || uint64(b) >= hdrLen+uint64(n)
}

// pool holds the receive buffers lent to the receiver: a class of buffers sized for the MTU
// and a small class of maximal buffers for larger frames. Buffers are allocated on first use
// up to a fixed count per class and reused after Release; a frame's Cookie names its class and
// slot. get is called only by the reader goroutine; put may be called from any goroutine.
type pool struct {
	classes [2]class
}

// class is one size of buffer.
type class struct {
	size  int
	slots []slot
	free  chan uint32 // released slot indices; capacity len(slots), so put never blocks
	n     int         // slots allocated so far; reader goroutine only
}

// slot is one buffer and the one-element segment list of the frame lent from it.
type slot struct {
	buf  []byte
	seg  [1][]byte
	lent atomic.Bool
}

func (p *pool) init(smallSize, largeSize int) {
	if smallSize > largeSize {
		smallSize = largeSize
	}
	p.classes[0] = class{size: smallSize, slots: make([]slot, smallBufs), free: make(chan uint32, smallBufs)}
	p.classes[1] = class{size: largeSize, slots: make([]slot, largeBufs), free: make(chan uint32, largeBufs)}
}

// tryGet returns a slot whose buffer holds n bytes, marked lent, and its cookie, or false when
// every buffer of the class is lent.
func (p *pool) tryGet(n int) (*slot, uint64, bool) {
	ci := p.classOf(n)
	c := &p.classes[ci]
	var idx uint32
	select {
	case idx = <-c.free:
	default:
		if c.n == len(c.slots) {
			return nil, 0, false
		}
		idx = uint32(c.n)
		c.slots[idx].buf = make([]byte, c.size)
		c.n++
	}
	return p.lend(ci, idx)
}

// get is tryGet that waits for a release when every buffer of the class is lent, or fails
// when done is closed.
func (p *pool) get(n int, done <-chan struct{}) (*slot, uint64, error) {
	if s, cookie, ok := p.tryGet(n); ok {
		return s, cookie, nil
	}
	ci := p.classOf(n)
	select {
	case idx := <-p.classes[ci].free:
		s, cookie, _ := p.lend(ci, idx)
		return s, cookie, nil
	case <-done:
		return nil, 0, errLinkClosed
	}
}

func (p *pool) classOf(n int) int {
	if n > p.classes[0].size {
		return 1
	}
	return 0
}

// lend marks slot idx of class ci lent and returns it with its cookie.
func (p *pool) lend(ci int, idx uint32) (*slot, uint64, bool) {
	c := &p.classes[ci]
	s := &c.slots[idx]
	s.lent.Store(true)
	return s, uint64(ci)<<32 | uint64(idx), true
}

// put returns the slot named by cookie to the pool. It reports false for a cookie that names
// no lent slot.
func (p *pool) put(cookie uint64) bool {
	ci, idx := cookie>>32, uint32(cookie)
	if ci >= uint64(len(p.classes)) {
		return false
	}
	c := &p.classes[ci]
	if idx >= uint32(len(c.slots)) || !c.slots[idx].lent.CompareAndSwap(true, false) {
		return false
	}
	c.slots[idx].seg[0] = nil
	c.free <- idx
	return true
}

// allocated returns the bytes of buffer memory the pool holds; for tests.
func (p *pool) allocated() int {
	return p.classes[0].n*p.classes[0].size + p.classes[1].n*p.classes[1].size
}
