package netfront

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
	"github.com/unikit/unikit/xenfront/ring"
)

const (
	txSize = netif.TxRingSize
	rxSize = netif.RxRingSize
	// spuriousLimit is how many events in a row without work are taken at full speed before
	// each further one is delayed (XSA-391: a back end flooding the front end with events).
	spuriousLimit = 1024
	spuriousDelay = time.Millisecond
)

// buffer is one pre-granted page of a pool.
type buffer struct {
	ref  xenfront.GrantRef
	page []byte
}

// connection is one incarnation of the rings: everything the handshake set up, torn down when
// the back end goes away.
type connection struct {
	l     *Link
	gen   uint16
	split bool
	// softIPv6Csum: the back end does not complete IPv6 checksums (no
	// feature-ipv6-csum-offload), so Transmit does.
	softIPv6Csum bool
	queues       []*queue
	seed         maphash.Seed

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lent   atomic.Int64 // frames lent to the receiver
}

// queue is one TX/RX ring pair with its event channel(s) and page pools. The TX half is
// guarded by txMu (tx.go), the RX half by rxMu (rx.go).
type queue struct {
	c   *connection
	l   *Link
	idx int

	txPort, rxPort       xenfront.Port
	txRingRef, rxRingRef xenfront.GrantRef

	txMu      sync.Mutex
	tx        *netif.TxFrontRing
	txBuf     [txSize]buffer
	txPending [txSize]bool
	txLeaked  [txSize]bool
	txFree    []uint16
	txExtras  int  // extra-info slots awaiting their NULL response
	txStopped bool // the ring takes no more requests: the back end broke it or c stopped
	txSpace   chan struct{}
	split     gsoSplit // scratch space of transmitSplit

	rxMu      sync.Mutex
	rx        *netif.RxFrontRing
	rxBuf     [rxSize]buffer
	rxSlot    [rxSize]int32 // buffer posted in each ring slot, or -1
	rxLent    [rxSize]bool
	rxFree    []uint16
	lent      [rxSize]lentRec
	recFree   []uint16
	rxStopped bool // c is gone: released frames give their pages back to the grant table
	frames    [rxBatch]link.Frame
	segs      [rxBatch][maxRxSlots][]byte
}

// newConnection grants the ring pages and page pools and allocates the event channels of nq
// queues. On failure it gives back whatever it got.
func (l *Link) newConnection(gen uint16, f backendFeatures, nq int) (*connection, error) {
	c := &connection{l: l, gen: gen, split: f.split, softIPv6Csum: !f.ipv6Csum, seed: maphash.MakeSeed()}
	c.ctx, c.cancel = context.WithCancel(l.ctx)
	for i := range nq {
		q := &queue{c: c, l: l, idx: i, txSpace: make(chan struct{}, 1),
			txFree: make([]uint16, 0, txSize), rxFree: make([]uint16, 0, rxSize), recFree: make([]uint16, 0, rxSize)}
		for j := range q.rxSlot {
			q.rxSlot[j] = -1
		}
		c.queues = append(c.queues, q) // first, so that release finds what allocate got
		if err := q.allocate(f.split); err != nil {
			c.release()
			return nil, err
		}
	}
	return c, nil
}

// allocate grants q's two ring pages, allocates its event channel(s) (two when split) and grants
// its page pools: TX pages read-only, RX pages writable.
func (q *queue) allocate(split bool) error {
	g, ev, be := q.l.cfg.Grants, q.l.cfg.Events, q.l.dev.Load().backendID
	txPage, err := q.grantRing(&q.txRingRef)
	if err != nil {
		return fmt.Errorf("grant TX ring: %w", err)
	}
	q.tx, _ = ring.NewFront[netif.TxRequest, netif.TxResponse](txPage)
	rxPage, err := q.grantRing(&q.rxRingRef)
	if err != nil {
		return fmt.Errorf("grant RX ring: %w", err)
	}
	q.rx, _ = ring.NewFront[netif.RxRequest, netif.RxResponse](rxPage)
	if q.txPort, err = ev.AllocUnbound(be); err != nil {
		return fmt.Errorf("event channel: %w", err)
	}
	q.rxPort = q.txPort
	if split {
		if q.rxPort, err = ev.AllocUnbound(be); err != nil {
			return fmt.Errorf("event channel: %w", err)
		}
	}
	for j := range txSize {
		if q.txBuf[j].ref, q.txBuf[j].page, err = g.Grant(be, true); err != nil {
			return fmt.Errorf("grant TX pool: %w", err)
		}
		q.txFree = append(q.txFree, uint16(j))
	}
	for j := range rxSize {
		if q.rxBuf[j].ref, q.rxBuf[j].page, err = g.Grant(be, false); err != nil {
			return fmt.Errorf("grant RX pool: %w", err)
		}
		q.rxFree = append(q.rxFree, uint16(j))
		q.recFree = append(q.recFree, uint16(j))
	}
	return nil
}

// grantRing grants a writable ring page to the back end, storing its reference in ref, and
// initialises it. Grant returns a zeroed page the back end cannot find before its reference
// is published in xenstore, so initialising it after granting is safe.
func (q *queue) grantRing(ref *xenfront.GrantRef) ([]byte, error) {
	var page []byte
	var err error
	if *ref, page, err = q.l.cfg.Grants.Grant(q.l.dev.Load().backendID, false); err != nil {
		return nil, err
	}
	ring.Init(page)
	return page, nil
}

// rings says which of a queue's rings an event loop serves.
type rings uint8

const (
	txRing rings = 1 << iota
	rxRing
)

// start starts the event goroutines: one per event channel, so with split channels TX and RX
// events are served apart.
func (c *connection) start() {
	for _, q := range c.queues {
		if c.split {
			c.wg.Add(2)
			go q.loop(q.rxPort, rxRing)
			go q.loop(q.txPort, txRing)
		} else {
			c.wg.Add(1)
			go q.loop(q.txPort, txRing|rxRing)
		}
	}
}

// stop ends the goroutines and marks the queues stopped, so frames released later give their
// pages back to the grant table instead of the ring.
func (c *connection) stop() {
	c.cancel()
	c.wg.Wait()
	for _, q := range c.queues {
		q.txMu.Lock()
		q.txStopped = true
		q.txMu.Unlock()
		q.rxMu.Lock()
		q.rxStopped = true
		q.rxMu.Unlock()
	}
}

// release revokes every grant and closes the ports; pages of frames still lent are revoked
// when they come back. It reports whether frames are still lent.
func (c *connection) release() bool {
	c.cancel()
	for _, q := range c.queues {
		q.revoke()
	}
	return c.lent.Load() > 0
}

// revoke ends q's grants, except pages the back end kept (never reused) and pages of frames
// still lent, and closes its ports.
func (q *queue) revoke() {
	l := q.l
	q.txMu.Lock()
	for j := range q.txBuf {
		if !q.txLeaked[j] {
			l.endGrant(q.txBuf[j].ref)
		}
		q.txBuf[j] = buffer{}
	}
	l.endGrant(q.txRingRef)
	q.txMu.Unlock()
	q.rxMu.Lock()
	q.rxStopped = true
	for j := range q.rxBuf {
		if !q.rxLent[j] {
			l.endGrant(q.rxBuf[j].ref)
			q.rxBuf[j] = buffer{}
		}
	}
	l.endGrant(q.rxRingRef)
	q.rxMu.Unlock()
	if q.txPort != 0 {
		_ = l.cfg.Events.Close(q.txPort)
	}
	if q.rxPort != q.txPort && q.rxPort != 0 {
		_ = l.cfg.Events.Close(q.rxPort)
	}
}

// endGrant revokes a grant; a page the back end still maps is leaked, never reused (XSA-396).
func (l *Link) endGrant(ref xenfront.GrantRef) {
	if ref == 0 {
		return
	}
	if err := l.cfg.Grants.End(ref); err != nil {
		l.log.Error("netfront: page leaked: back end keeps it mapped", "gref", ref, "err", err)
		l.fail(fmt.Errorf("%w: grant %d still in use by the back end: %w", ErrBackend, ref, err))
	}
}

// loop waits for events on port and processes the rings it serves, until the connection
// stops or the back end breaks the protocol. An RX loop delivers nothing before Start.
func (q *queue) loop(port xenfront.Port, serves rings) {
	defer q.c.wg.Done()
	ctx, l := q.c.ctx, q.l
	if serves&rxRing != 0 {
		select {
		case <-l.started:
		case <-ctx.Done():
			return
		}
	}
	spurious := 0
	// The pause after spurious events reuses one timer: it is on the per-frame path whenever
	// the back end signals more often than it produces, and must not allocate there.
	pause := time.NewTimer(spuriousDelay)
	pause.Stop()
	defer pause.Stop()
	for {
		work := false
		if serves&txRing != 0 {
			did, err := q.drainTx()
			if err != nil {
				l.fail(err)
				return
			}
			work = work || did
		}
		if serves&rxRing != 0 {
			did, err := q.drainRx()
			if err != nil {
				l.fail(err)
				return
			}
			work = work || did
		}
		if work {
			spurious = 0
		} else if spurious++; spurious > spuriousLimit {
			pause.Reset(spuriousDelay)
			select {
			case <-pause.C:
			case <-ctx.Done():
				return
			}
		}
		if err := l.cfg.Events.Wait(ctx, port); err != nil {
			return
		}
	}
}

// backendErr returns a violation of the protocol by the back end, wrapping ErrBackend.
func backendErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBackend}, args...)...)
}
