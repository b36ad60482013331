package pipe

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// slotState tracks where a receive buffer is, so that a stray or repeated Release cannot put
// a buffer in the free list twice.
type slotState uint8

const (
	slotFree   slotState = iota // in queue.free
	slotQueued                  // in the ring or held back for reordering
	slotLent                    // handed to the receiver, waiting for Release
)

// slot is one receive buffer of an end, with the metadata of the frame in it.
type slot struct {
	buf   []byte    // allocated on first use, full capacity
	seg   [1][]byte // Segments of the lent frame: buf[:n]
	n     int
	off   link.Offload
	due   int64 // delivery time in ns since queue.base; 0 when the pipe has no delay or rate
	state slotState
}

// cookieTagShift places an end's tag in the high bits of its cookies, so that frames released
// to the wrong end are recognised and ignored.
const cookieTagShift = 32

// queue holds the frames travelling towards one end, in that end's buffers. Transmitters of
// the other end push, the end's delivery goroutine pops, and the end's Release returns buffers.
type queue struct {
	owner    *Link
	tag      uint64
	bufSize  int
	mtuFrame int  // largest non-GSO frame
	tso      bool // GSO frames up to link.MaxGSOSize are accepted
	rxCsum   bool // the receiver accepts checksum flags
	rxGRO    bool // the receiver accepts GSO metadata
	imp      Impairments
	random   bool  // some probabilistic impairment is configured
	timed    bool  // frames carry a delivery time (delay or rate)
	clock    bool  // the delivery goroutine needs the time (timed or reordering)
	window   int64 // reorder window, ns
	base     time.Time
	wake     chan struct{} // cap 1: tells a parked delivery goroutine to look again
	timer    *time.Timer   // used only by the delivery goroutine

	// sendMu serialises transmitters, which own the scratch buffers below, also while
	// they wait for a free buffer with mu released.
	sendMu sync.Mutex
	gsoBuf []byte    // a GSO frame being segmented
	segBuf []byte    // one of its segments
	segVec [1][]byte // segBuf as Segments

	// space wakes the transmitter waiting for a free buffer (there is at most one: the
	// holder of sendMu) when a buffer is freed, the queue stops being stuck or an end closes;
	// cap 1. stallTimer bounds its wait (see get); it belongs to sendMu's holder.
	space      chan struct{}
	stallTimer *time.Timer

	// returned counts the DeliverFrames calls that returned. The delivery goroutine counts
	// a call as soon as it returns, before it takes mu again, so that a receiver waiting for
	// mu (or for a CPU) on its way back to pop is not taken for stuck.
	returned atomic.Uint64
	// stalled is set while the transmitter waiting for a buffer has found the receiver
	// sitting in one DeliverFrames call for stallTimeout, holding no frame and freeing none;
	// stalledAt is returned then. The transmitter of the other direction reads them (see
	// stalledNow) without taking mu, which would order the two queues' locks.
	stalled   atomic.Bool
	stalledAt atomic.Uint64

	mu           sync.Mutex
	spaceWaiters int
	// delivering is set while the owner's delivery goroutine is inside DeliverFrames; stuck
	// is set once the receivers of both directions have sat so (see get), and cleared when
	// this end's receiver has taken every frame queued (see pop).
	delivering bool
	stuck      bool
	freed      uint64 // buffers released so far
	lent       int    // buffers lent to the receiver
	slots      []slot
	free       []uint32 // indices of free slots, used as a stack
	ring       []uint32 // FIFO of queued slots
	head, n    int
	held       int32 // slot held back for reordering, or -1
	heldAt     int64
	started    bool
	closed     bool
	waiting    bool // the delivery goroutine is parked
	rng        *rand.Rand
	nextDepart int64 // rate limiting: when the wire is free again
}

func newQueue(owner *Link, c *Config, id uint64) *queue {
	q := &queue{
		owner:    owner,
		tag:      id << cookieTagShift,
		mtuFrame: c.MTU + link.EthernetHeaderLen,
		tso:      c.Features&(link.FeatureTxTSO4|link.FeatureTxTSO6) != 0,
		rxCsum:   c.Features.Has(link.FeatureRxCsum),
		rxGRO:    c.Features.Has(link.FeatureRxGRO),
		imp:      c.Impair,
		random:   c.Impair.random(),
		timed:    c.Impair.Delay > 0 || c.Impair.Rate > 0,
		window:   int64(c.Impair.ReorderWindow),
		base:     time.Now(),
		wake:     make(chan struct{}, 1),
		slots:    make([]slot, c.QueueDepth),
		free:     make([]uint32, c.QueueDepth),
		ring:     make([]uint32, c.QueueDepth),
		held:     -1,
		// One stream per direction, both derived from the seed.
		rng: rand.New(rand.NewPCG(c.Impair.Seed, 0x9e3779b97f4a7c15*id)),
	}
	if q.window == 0 {
		q.window = int64(time.Millisecond)
	}
	q.clock = q.timed || c.Impair.Reorder > 0
	q.bufSize = q.mtuFrame
	if q.tso {
		q.bufSize = link.MaxGSOSize
	}
	for i := range q.free {
		q.free[i] = uint32(len(q.free) - 1 - i) // pop slot 0 first
	}
	q.space = make(chan struct{}, 1)
	q.timer = time.NewTimer(time.Hour)
	q.timer.Stop()
	q.stallTimer = time.NewTimer(time.Hour)
	q.stallTimer.Stop()
	return q
}

func (q *queue) now() int64 { return int64(time.Since(q.base)) }

func (q *queue) start() {
	q.mu.Lock()
	q.started = true
	q.mu.Unlock()
}

// limit returns the longest frame f may be.
func (q *queue) limit(f *link.Frame) int {
	if q.tso && f.Offload.GSOType != link.GSONone {
		return link.MaxGSOSize
	}
	return q.mtuFrame
}

// push copies frames sent by from into this queue's buffers; see Link.Transmit.
func (q *queue) push(from *Link, frames []link.Frame) (int, error) {
	q.sendMu.Lock()
	defer q.sendMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	defer q.kick()
	for i := range frames {
		f := &frames[i]
		if from.closed.Load() {
			return i, link.ErrClosed
		}
		if q.closed {
			from.counters.TxDropped(len(frames) - i)
			return i, link.ErrLinkDown
		}
		n := f.Len()
		if n > q.limit(f) {
			from.counters.TxError()
			return i, link.ErrFrameTooLarge
		}
		if !q.started {
			from.counters.Sent(1, n)
			q.owner.counters.RxDropped(1)
			continue
		}
		var err error
		if q.random && q.tso && f.Offload.GSOType != link.GSONone {
			err = q.pushSegmented(from, f, n)
		} else {
			err = q.pushWire(from, f.Segments, n, f.Offload)
		}
		if err != nil {
			return i, err
		}
		from.counters.Sent(1, n)
	}
	return len(frames), nil
}

// pushSegmented cuts a GSO frame into the packets a NIC would put on the wire and pushes each
// (see segment.go). A frame that is not TCP over IPv4 or IPv6 travels whole.
func (q *queue) pushSegmented(from *Link, f *link.Frame, n int) error {
	if q.gsoBuf == nil {
		q.gsoBuf = make([]byte, link.MaxGSOSize)
		q.segBuf = make([]byte, link.MaxGSOSize)
	}
	b := q.gsoBuf[:0]
	for _, s := range f.Segments {
		b = append(b, s...)
	}
	g, ok := parseTCPGSO(b, f.Offload)
	if !ok {
		return q.pushWire(from, f.Segments, n, f.Offload)
	}
	for i := range g.segments() {
		m := g.segment(q.segBuf, b, i)
		q.segVec[0] = q.segBuf[:m]
		// Complete checksums, no GSO: an ordinary frame, which the receiver verifies.
		if err := q.pushWire(from, q.segVec[:], m, link.Offload{}); err != nil {
			return err
		}
	}
	return nil
}

// pushWire applies the impairments to one frame of n bytes made of segs and queues what is
// left of it in this end's buffers. q.mu is held.
func (q *queue) pushWire(from *Link, segs [][]byte, n int, off link.Offload) error {
	var d decision
	if q.random {
		d = q.decide(n)
	}
	if d.lose {
		from.counters.TxDropped(1)
		return nil
	}
	idx, err := q.get(from)
	if err == errStuck {
		from.counters.TxDropped(1)
		return nil
	}
	if err != nil {
		return err
	}
	s := &q.slots[idx]
	s.n = 0
	for _, seg := range segs {
		s.n += copy(s.buf[s.n:], seg)
	}
	s.seg[0] = s.buf[:n]
	s.off = q.rxOffload(s.buf[:n], off)
	if d.corrupt {
		s.off = corrupt(s.buf[:n], s.off, d.corruptAt, d.corruptXor)
	}
	s.due = q.due(n)
	if d.dup {
		// The duplicate needs a second buffer; waiting for it is back-pressure as usual.
		// The original is queued first so that the delivery goroutine can make room.
		q.enqueue(idx, false)
		j, err := q.get(from)
		if err == errStuck {
			from.counters.TxDropped(1)
			return nil
		}
		if err != nil {
			return err
		}
		c := &q.slots[j]
		c.n = copy(c.buf, s.buf[:n])
		c.seg[0] = c.buf[:n]
		c.off = s.off
		c.due = q.due(n)
		q.enqueue(j, false)
		return nil
	}
	q.enqueue(idx, d.reorder)
	return nil
}

// rxOffload returns the metadata a frame with transmit metadata o arrives with at this end,
// finalizing checksums the receiver does not accept as pending.
func (q *queue) rxOffload(b []byte, o link.Offload) link.Offload {
	if !q.rxCsum && o.Flags != 0 {
		if o.Flags&link.FlagNeedsCsum != 0 {
			link.CompleteChecksum(b, o)
		}
		o.Flags = 0
	}
	if !q.rxGRO && o.GSOType != link.GSONone {
		// Only a frame that fits the MTU gets here (limit): it needs no segmentation.
		o.GSOType, o.GSOSize, o.HdrLen = link.GSONone, 0, 0
	}
	return o
}

// due returns the delivery time of a frame of n bytes queued now, and takes its turn on the
// wire when the rate is limited.
func (q *queue) due(n int) int64 {
	if !q.timed {
		return 0
	}
	depart := q.now()
	if q.imp.Rate > 0 {
		depart = max(depart, q.nextDepart) + int64(n)*int64(time.Second)/q.imp.Rate
		q.nextDepart = depart
	}
	return depart + int64(q.imp.Delay)
}

// stallTimeout is how long a transmitter waits for a free buffer while the receiver sits in one
// DeliverFrames call, holding none of the frames lent to it and freeing nothing, before the
// pipe takes the receiver for stalled. A receiver that keeps frames, inside DeliverFrames or
// after it returns, applies back-pressure: the transmitter waits for its Release as long as it
// takes. One that has given every frame back and still does not return may wait for room in
// the other direction of this pipe (see the package documentation); when the other
// direction's receiver has stalled so too, each waits for the other, and the pipe takes the
// receiver for stuck and drops what does not fit, as a NIC drops what arrives while its
// receive ring is full.
//
// One direction stalled alone is no cycle: its receiver may only be waiting for a CPU, which
// on a loaded machine can take longer than stallTimeout, and it is waited for as long as it
// takes.
const stallTimeout = 100 * time.Millisecond

// errStuck tells push that the receiver is stuck and the frame was dropped.
var errStuck = errors.New("pipe: receiver stuck")

// get takes a free buffer, waiting for one while none is free (waitFree). It fails when
// either end closes meanwhile, and with errStuck when the receiver is stuck inside
// DeliverFrames (see stallTimeout). q.mu is held; it is released while waiting.
func (q *queue) get(from *Link) (uint32, error) {
	if len(q.free) == 0 {
		if err := q.waitFree(from); err != nil {
			return 0, err
		}
	}
	if from.closed.Load() {
		return 0, link.ErrClosed
	}
	if q.closed {
		return 0, link.ErrLinkDown
	}
	idx := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	s := &q.slots[idx]
	if s.buf == nil {
		s.buf = make([]byte, q.bufSize)
	}
	s.state = slotQueued
	return idx, nil
}

// waitFree waits until a buffer is free, timing the receiver for a stall (see stallTimeout)
// meanwhile. It fails as get does. q.mu is held; it is released while waiting.
func (q *queue) waitFree(from *Link) error {
	timing := false
	var returned, freed uint64 // the receiver's progress when the stall timer started
	defer func() {
		if timing {
			q.stallTimer.Stop()
		}
		q.unstall()
	}()
	for len(q.free) == 0 {
		if from.closed.Load() {
			return link.ErrClosed
		}
		if q.closed {
			return link.ErrLinkDown
		}
		if q.stuck {
			return errStuck
		}
		q.kick() // the delivery goroutine may be parked with frames we queued
		if !timing {
			timing = true
			q.stallTimer.Reset(stallTimeout)
			returned, freed = q.returned.Load(), q.freed
		}
		q.spaceWaiters++
		q.mu.Unlock()
		expired := false
		select {
		case <-q.space:
		case <-q.stallTimer.C:
			expired = true
		}
		q.mu.Lock()
		q.spaceWaiters--
		if expired {
			if q.delivering && q.lent == 0 && q.returned.Load() == returned && q.freed == freed && len(q.free) == 0 {
				// The receiver sat in one DeliverFrames call, holding and freeing nothing,
				// for the whole stallTimeout (or longer, if the timer fired late).
				q.stalledAt.Store(returned)
				q.stalled.Store(true)
				// The receiver transmits through the other direction's queue: stuck
				// only if that direction's receiver sits so too, each waiting for the
				// other. Otherwise it is merely slow: recheck after stallTimeout, with
				// the stall still counted from when it began.
				q.stuck = q.owner.peer.rx.stalledNow()
			} else {
				// The receiver moved: wait on.
				q.unstall()
				returned, freed = q.returned.Load(), q.freed
			}
			if !q.stuck {
				q.stallTimer.Reset(stallTimeout)
			}
		}
	}
	return nil
}

// stalledNow reports whether the transmitter waiting for a buffer has found the receiver
// stalled (see stallTimeout) and the receiver has not returned since. It reads atomics only:
// the transmitter of the other direction calls it with that direction's mu held.
func (q *queue) stalledNow() bool {
	return q.stalled.Load() && q.returned.Load() == q.stalledAt.Load()
}

// unstall clears the stalled mark when the receiver made progress or no transmitter waits
// any more. q.mu is held.
func (q *queue) unstall() {
	if q.stalled.Load() {
		q.stalled.Store(false)
	}
}

// wakeSpace wakes the transmitter waiting for a buffer, if any. q.mu is held.
func (q *queue) wakeSpace() {
	if q.spaceWaiters > 0 {
		select {
		case q.space <- struct{}{}:
		default:
		}
	}
}

// enqueue appends slot idx to the ring, or holds it back when reorder is set and no other
// frame is held. A held frame is queued right after the next frame.
func (q *queue) enqueue(idx uint32, reorder bool) {
	if reorder && q.held < 0 {
		q.held = int32(idx)
		q.heldAt = q.now()
		return
	}
	q.ringPush(idx)
	if q.held >= 0 {
		h := &q.slots[q.held]
		h.due = max(h.due, q.slots[idx].due)
		q.ringPush(uint32(q.held))
		q.held = -1
	}
}

func (q *queue) ringPush(idx uint32) {
	q.ring[(q.head+q.n)%len(q.ring)] = idx
	q.n++
}

// kick wakes the delivery goroutine if it is parked and something is queued.
func (q *queue) kick() {
	if q.waiting && (q.n > 0 || q.held >= 0) {
		q.waiting = false
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// pop waits for frames that are due and lends up to len(frames) of them, returning their
// number and total length; it returns 0 once the end is closed.
func (q *queue) pop(frames []link.Frame) (int, int) {
	q.mu.Lock()
	q.delivering = false
	if q.stuck && q.n == 0 {
		// The receiver returned from DeliverFrames and has taken every frame queued while
		// it was stuck: transmitters wait for its buffers again.
		q.stuck = false
		q.wakeSpace()
	}
	for {
		if q.closed {
			q.mu.Unlock()
			return 0, 0
		}
		var now int64
		if q.clock {
			now = q.now()
		}
		if q.held >= 0 && now-q.heldAt >= q.window {
			// Nothing overtook the held frame in time: send it on.
			q.ringPush(uint32(q.held))
			q.held = -1
		}
		k, bytes := 0, 0
		for k < len(frames) && q.n > 0 {
			idx := q.ring[q.head]
			s := &q.slots[idx]
			if s.due > now {
				break
			}
			q.head = (q.head + 1) % len(q.ring)
			q.n--
			s.state = slotLent
			q.lent++
			frames[k] = link.Frame{Segments: s.seg[:], Offload: s.off, Cookie: q.tag | uint64(idx)}
			bytes += s.n
			k++
		}
		if k > 0 {
			q.delivering = true
			q.mu.Unlock()
			return k, bytes
		}
		wait := int64(-1)
		if q.n > 0 {
			wait = q.slots[q.ring[q.head]].due - now
		}
		if q.held >= 0 {
			if w := q.heldAt + q.window - now; wait < 0 || w < wait {
				wait = w
			}
		}
		q.waiting = true
		q.mu.Unlock()
		if wait < 0 {
			select {
			case <-q.wake:
			case <-q.owner.done:
			}
		} else {
			q.timer.Reset(time.Duration(wait))
			select {
			case <-q.wake:
			case <-q.timer.C:
			case <-q.owner.done:
			}
			q.timer.Stop()
		}
		q.mu.Lock()
		q.waiting = false
	}
}

// release returns lent buffers to the free list.
func (q *queue) release(frames []link.Frame) {
	q.mu.Lock()
	for i := range frames {
		c := frames[i].Cookie
		if c&^(1<<cookieTagShift-1) != q.tag {
			continue
		}
		idx := c & (1<<cookieTagShift - 1)
		if idx >= uint64(len(q.slots)) || q.slots[idx].state != slotLent {
			continue
		}
		q.slots[idx].state = slotFree
		q.free = append(q.free, uint32(idx))
		q.freed++
		q.lent--
	}
	q.unstall()
	q.wakeSpace()
	q.mu.Unlock()
}

// close discards queued frames and wakes every waiting transmitter. Lent frames stay lent
// until released.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	for ; q.n > 0; q.n-- {
		idx := q.ring[q.head]
		q.head = (q.head + 1) % len(q.ring)
		q.slots[idx].state = slotFree
		q.free = append(q.free, idx)
	}
	if q.held >= 0 {
		q.slots[q.held].state = slotFree
		q.free = append(q.free, uint32(q.held))
		q.held = -1
	}
	q.wakeSpace()
	q.mu.Unlock()
}

// wakeAll wakes transmitters waiting for a buffer, so they notice a closed end.
func (q *queue) wakeAll() {
	q.mu.Lock()
	q.wakeSpace()
	q.mu.Unlock()
}
