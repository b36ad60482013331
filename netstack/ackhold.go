package netstack

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// DefaultAckHold is how long the adapter holds a pure TCP ACK by default, waiting for a
// segment of the same connection to carry the acknowledgement instead (see ackHold). The hold
// lengthens itself up to ackHoldCeiling where responses come later than that.
const DefaultAckHold = time.Millisecond

// ackHoldCeiling is the longest the hold lengthens itself to: below the 40 ms Linux's delayed
// ACK waits at least, and far below any peer's minimum retransmission timeout (200 ms on
// Linux), so a held ACK never makes a peer retransmit.
const ackHoldCeiling = 32 * time.Millisecond

// The hold tracks up to ackFlows connections in a two-way set-associative table: a connection
// may sit in either slot of its bucket. A connection whose slot another one takes over (the
// slot without a held ACK, else the one whose ACK is due first) loses its held ACK to the
// link at once and is tracked again from its next segment. The table is split into stripes,
// each under its own lock, so that transmitters of different connections rarely meet.
const (
	ackWindow = 1024
	ackPause  = time.Second

	ackStripes     = 64
	ackStripeFlows = 16
	ackFlows       = ackStripes * ackStripeFlows
	ackBucketBits  = 9 // ackFlows/2 buckets
)

// ackHold is the adapter's stand-in for TCP's delayed ACK, which gVisor lacks: after handling
// received segments, gVisor's TCP sends an ACK at once, and for request/response traffic the
// response follows microseconds later carrying the same acknowledgement. The hold keeps such a
// pure ACK back for at most its bound; if a segment of the same connection with an
// acknowledgement number at least as far goes out first, the held ACK is dropped (superseded:
// the later segment carries a newer acknowledgement and window), otherwise it is sent when the
// bound expires. On TAP that saves one frame and one system call per request.
//
// Only ACKs that advance the connection's acknowledgement, by less than two full-sized
// segments (as RFC 5681 §4.2 lets a receiver delay), and carry no option but timestamps are
// held. Duplicate ACKs (no advance), window updates and ACKs with SACK blocks pass untouched,
// after any ACK held for the connection, so the order of a connection's segments on the wire
// never changes: a held ACK leaves the table only under its stripe's lock, and is transmitted
// before that lock is released.
type ackHold struct {
	// bound is how long an ACK is held now, in nanoseconds: base at first, lengthened by
	// judgeAckWindow up to ceiling (never below base).
	bound         atomic.Int64
	base, ceiling int64
	// maxAdvance: an ACK that acknowledges this many bytes or more beyond the connection's
	// last one is sent at once (two full-sized segments).
	maxAdvance uint32
	link       link.Link
	counters   *nicCounters
	epoch      time.Time

	stripes [ackStripes]ackStripe

	held   atomic.Int32 // ACKs held in all stripes
	armed  atomic.Bool  // the timer is set
	closed atomic.Bool
	timer  *time.Timer

	// The hold watches whether it pays, over every ackWindow ACKs it holds: how many were
	// superseded, and how many were late (the connection's next segment, within ceiling of
	// the expiry, carried the expired acknowledgement: the peer had sent nothing more, so it
	// waited for the response, not for the ACK). judgeAckWindow lengthens the bound where
	// responses come late (at 500 connections on a busy machine 10 ms or more after their
	// requests: a 1 ms hold would only delay ACKs, a longer one saves a frame per request),
	// shortens it where ACKs were neither, and pauses the hold until pausedUntil where it
	// does not pay.
	winHeld, winSuperseded, winLate atomic.Int32
	pausedUntil                     atomic.Int64

	// expireMu serialises expire, which uses expiring as scratch.
	expireMu sync.Mutex
	expiring [ackStripeFlows]link.Frame
	expSegs  [ackStripeFlows][1][]byte
}

// ackStripe is one lock's share of the connection table: ackStripeFlows/2 buckets of two
// slots, flows[2b] and flows[2b+1].
type ackStripe struct {
	mu    sync.Mutex
	held  atomic.Int32 // ACKs held in this stripe; read without mu to skip empty stripes
	flows [ackStripeFlows]ackFlow
	// recent[b] is the slot of bucket b used last; the other one is taken over first.
	recent [ackStripeFlows / 2]uint8
}

// ackFlow is a connection's slot: what was last sent for it and its held ACK, if any.
type ackFlow struct {
	key  flowKey
	used bool
	held bool
	// expired: the last ACK held for the connection left when its bound expired, at deadline;
	// its next segment tells whether a longer hold would have been superseded (late).
	expired bool
	// sent is the acknowledgement number of the connection's last segment given to the link
	// with the ACK flag; acked says there was one.
	sent  uint32
	acked bool
	// ack, deadline, off and frame[:n] are the held ACK's number, when it must leave, offload
	// metadata and bytes.
	ack      uint32
	deadline int64
	off      link.Offload
	n        uint8
	frame    [ackFrameMax]byte
}

// ackScratch is one transmitting call's scratch for the hold, kept in its txBatchState.
type ackScratch struct {
	peek [ackPeekLen]byte
	one  [1]link.Frame
	seg  [1][]byte
}

// newAckHold returns a hold of at most bound in front of l, counting in counters; mtu is the
// link's, for the two-segment rule.
func newAckHold(l link.Link, counters *nicCounters, bound time.Duration, mtu int) *ackHold {
	h := &ackHold{
		base:       int64(bound),
		ceiling:    int64(max(bound, ackHoldCeiling)),
		maxAdvance: uint32(2 * max(mtu-40, 536)),
		link:       l,
		counters:   counters,
		epoch:      time.Now(),
	}
	h.bound.Store(h.base)
	h.timer = time.AfterFunc(time.Hour, h.expire)
	h.timer.Stop()
	for i := range h.expiring {
		h.expiring[i].Segments = h.expSegs[i][:]
	}
	return h
}

// now returns monotonic nanoseconds since the hold was made.
func (h *ackHold) now() int64 { return int64(time.Since(h.epoch)) }

// bucket returns the stripe of a connection and the index of its bucket there.
func (h *ackHold) bucket(hash uint32) (*ackStripe, int) {
	i := (hash * 0x9e3779b1) >> (32 - ackBucketBits)
	return &h.stripes[i/(ackStripeFlows/2)], int(i % (ackStripeFlows / 2))
}

// lookup returns the slot of the connection key in bucket b of st, or false and the slot to
// take over for it. st.mu is held.
func (st *ackStripe) lookup(b int, key *flowKey) (*ackFlow, bool) {
	pair := st.flows[2*b : 2*b+2]
	for i := range pair {
		if pair[i].used && pair[i].key == *key {
			st.recent[b] = uint8(i)
			return &pair[i], true
		}
	}
	v := 1 - int(st.recent[b])
	switch {
	case !pair[0].used || (pair[1].used && !pair[0].held && pair[1].held):
		v = 0
	case !pair[1].used || (!pair[1].held && pair[0].held):
		v = 1
	case pair[0].held && pair[1].held:
		v = 0
		if pair[1].deadline < pair[0].deadline {
			v = 1
		}
	}
	st.recent[b] = uint8(v)
	return &pair[v], false
}

// admit decides on one outgoing frame, in transmission order: it reports false when the hold
// took the frame (copied: the caller's buffers are free again), true when the frame is to be
// transmitted now, after any frame admit returned true for before it. It may transmit a held
// ACK itself, which is then due before f.
func (h *ackHold) admit(f *link.Frame, sc *ackScratch) bool {
	s, ok := outSegment(f, &sc.peek)
	if !ok {
		return true
	}
	st, b := h.bucket(s.hash)
	st.mu.Lock()
	defer st.mu.Unlock()
	fl, found := st.lookup(b, &s.key)
	if !found {
		if fl.held {
			h.sendHeld(st, fl, sc) // evicted: it leaves before the slot changes hands
		}
		*fl = ackFlow{key: s.key, used: true, sent: s.ack, acked: s.hasAck}
		return true
	}
	if fl.expired {
		fl.expired = false
		if !s.bare && s.hasAck && s.ack == fl.sent && h.now() < fl.deadline+h.ceiling {
			h.winLate.Add(1)
		}
	}
	if fl.held {
		if s.hasAck && (seqBefore(fl.ack, s.ack) || (!s.bare && s.ack == fl.ack)) {
			// A later acknowledgement, or data, FIN or RST carrying the held one: the held
			// ACK is not needed.
			h.counters.ackSuperseded.Add(1)
			h.winSuperseded.Add(1)
			if s.pureAck && s.ack-fl.sent < h.maxAdvance {
				// Hold the newer ACK instead; the first hold's deadline stands.
				fl.ack, fl.off = s.ack, f.Offload
				fl.n = uint8(copyFrame(fl.frame[:], f))
				h.counters.ackHeld.Add(1)
				return false
			}
			h.release(st, fl)
			fl.sent = s.ack
			return true
		}
		// A duplicate ACK (the held number again, with or without SACK blocks), a window
		// update, or a segment without ACK: the held ACK goes first.
		h.sendHeld(st, fl, sc)
	}
	if s.pureAck && fl.acked && seqBefore(fl.sent, s.ack) && s.ack-fl.sent < h.maxAdvance && h.pays() {
		fl.held, fl.ack, fl.off = true, s.ack, f.Offload
		fl.n = uint8(copyFrame(fl.frame[:], f))
		bound := h.bound.Load()
		fl.deadline = h.now() + bound
		st.held.Add(1)
		h.held.Add(1)
		h.counters.ackHeld.Add(1)
		h.arm(time.Duration(bound))
		return false
	}
	if s.hasAck {
		fl.sent, fl.acked = s.ack, true
	}
	return true
}

// pays reports whether the hold may take one more ACK, and counts it in the current window:
// false while the hold pauses after a window judgeAckWindow found it did not pay in.
func (h *ackHold) pays() bool {
	if until := h.pausedUntil.Load(); until != 0 {
		if h.now() < until {
			return false
		}
		h.pausedUntil.Store(0)
	}
	if h.winHeld.Add(1) != ackWindow {
		return true // the one call that completes the window judges it
	}
	sup, late := h.winSuperseded.Swap(0), h.winLate.Swap(0)
	h.winHeld.Store(0)
	bound, pause := judgeAckWindow(h.bound.Load(), h.base, h.ceiling, int(sup), int(late))
	h.bound.Store(bound)
	if pause {
		h.pausedUntil.Store(h.now() + int64(ackPause))
		h.counters.ackPauses.Add(1)
	}
	return true
}

// judgeAckWindow returns the hold's bound after a window of ackWindow held ACKs of which sup
// were superseded and late left on expiry shortly before a response that carried them, and
// whether the hold pauses. The rest (waiting) are ACKs a peer may have been waiting for: one
// that sends a request in two writes, the second after the first's ACK (Nagle's algorithm).
// Held with bound cur, between base and ceiling:
//
//   - late ones at least an eighth of the window and at least as many as waiting ones, below
//     the ceiling: responses come, only after the bound; the bound doubles, up to ceiling.
//   - otherwise at least half superseded: the hold pays; it keeps its bound, but halves it
//     (not below base) when more than an eighth of the window was waiting.
//   - otherwise the hold pauses, and starts again from base.
func judgeAckWindow(cur, base, ceiling int64, sup, late int) (bound int64, pause bool) {
	waiting := max(ackWindow-sup-late, 0)
	switch {
	case late >= ackWindow/8 && late >= waiting && cur < ceiling:
		return min(2*cur, ceiling), false
	case sup >= ackWindow/2 && waiting > ackWindow/8:
		return max(cur/2, base), false
	case sup >= ackWindow/2:
		return cur, false
	default:
		return base, true
	}
}

// release forgets fl's held ACK without sending it. st.mu is held.
func (h *ackHold) release(st *ackStripe, fl *ackFlow) {
	fl.held = false
	st.held.Add(-1)
	h.held.Add(-1)
}

// sendHeld transmits fl's held ACK now. st.mu is held, and stays held across the
// transmission so that no later segment of the connection can overtake it.
func (h *ackHold) sendHeld(st *ackStripe, fl *ackFlow, sc *ackScratch) {
	sc.seg[0] = fl.frame[:fl.n]
	sc.one[0] = link.Frame{Segments: sc.seg[:], Offload: fl.off}
	if _, err := h.link.Transmit(sc.one[:]); err != nil {
		h.counters.txLinkErrors.Add(1)
	}
	sc.seg[0], sc.one[0] = nil, link.Frame{}
	fl.sent = fl.ack
	h.release(st, fl)
}

// arm sets the timer to fire after d unless it is set already.
func (h *ackHold) arm(d time.Duration) {
	if h.armed.CompareAndSwap(false, true) {
		h.timer.Reset(d)
	}
}

// expire is the timer's function: it sends the held ACKs whose time has come, each stripe's in
// one Transmit call, and sets the timer again for the earliest of the rest.
func (h *ackHold) expire() {
	h.expireMu.Lock()
	now := h.now()
	next := int64(math.MaxInt64)
	for i := range h.stripes {
		st := &h.stripes[i]
		if st.held.Load() == 0 {
			continue
		}
		st.mu.Lock()
		n := 0
		for j := range st.flows {
			fl := &st.flows[j]
			if !fl.held {
				continue
			}
			if fl.deadline > now {
				next = min(next, fl.deadline)
				continue
			}
			h.expSegs[n][0] = fl.frame[:fl.n]
			h.expiring[n].Offload = fl.off
			n++
			fl.sent, fl.expired = fl.ack, true
			h.release(st, fl)
		}
		if n > 0 {
			if _, err := h.link.Transmit(h.expiring[:n]); err != nil {
				h.counters.txLinkErrors.Add(1)
			}
			h.counters.ackExpired.Add(uint64(n))
			for k := range n {
				h.expSegs[k][0] = nil
			}
		}
		st.mu.Unlock()
	}
	h.expireMu.Unlock()
	h.armed.Store(false)
	if h.held.Load() > 0 && !h.closed.Load() {
		d := h.bound.Load()
		if next != math.MaxInt64 {
			d = max(next-now, int64(10*time.Microsecond))
		}
		h.arm(time.Duration(d))
	}
}

// close stops the timer; ACKs still held are dropped with the NIC.
func (h *ackHold) close() {
	h.closed.Store(true)
	h.timer.Stop()
}

// copyFrame copies f's bytes into dst, which is long enough, and returns their length.
func copyFrame(dst []byte, f *link.Frame) int {
	n := 0
	for _, s := range f.Segments {
		n += copy(dst[n:], s)
	}
	return n
}

// seqBefore reports whether TCP sequence number a comes before b (RFC 1982 arithmetic).
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }
