package xenstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/unikit/unikit/xenfront"
)

// RingSize is XENSTORE_RING_SIZE, the size of each of the two byte rings on the page.
const RingSize = 1024

// Layout of struct xenstore_domain_interface (io/xs_wire.h): two 1024-byte byte rings and their
// free-running indices, then the server's feature and connection-state words.
const (
	reqOffset           = 0
	rspOffset           = 1024
	reqConsOffset       = 2048
	reqProdOffset       = 2052
	rspConsOffset       = 2056
	rspProdOffset       = 2060
	serverFeatOffset    = 2064
	connectionOffset    = 2068
	errorOffset         = 2072
	domainInterfaceSize = 2076
)

// errShortPage is returned for a ring page shorter than xenfront.PageSize.
var errShortPage = errors.New("xenstore: ring page shorter than 4096 bytes")

// Ring is a byte stream over a xenstore ring page (xenstore_domain_interface), the way a
// PV or PVH guest talks to xenstored: the guest writes requests into req[] and reads replies
// from rsp[]; xenstored does the opposite. Each side advances its index and notifies the event
// channel. It implements io.ReadWriteCloser; one reader and one writer may run concurrently.
//
// The indices the other side writes are untrusted: a producer more than RingSize ahead of
// the consumer is a protocol error, after which the ring is unusable.
type Ring struct {
	ev   xenfront.EventChannels
	port xenfront.Port
	// in/out are the rings this side reads and writes, with their index words.
	in, out          []byte
	inCons, inProd   *uint32
	outCons, outProd *uint32
	cancel           context.CancelFunc
	done             chan struct{}
	closeOnce        sync.Once
	mu               sync.Mutex
	cond             sync.Cond
	closed           bool
	broken           error
}

// NewRing returns a stream over page, a xenstore ring shared with the other side, using
// event channel port. server selects xenstored's side. It starts one goroutine that waits for
// events; Close ends it.
func NewRing(page []byte, ev xenfront.EventChannels, port xenfront.Port, server bool) (*Ring, error) {
	if len(page) < xenfront.PageSize {
		return nil, errShortPage
	}
	w := func(off int) *uint32 { return (*uint32)(unsafe.Pointer(&page[off])) }
	r := &Ring{ev: ev, port: port, done: make(chan struct{})}
	req, rsp := page[reqOffset:reqOffset+RingSize], page[rspOffset:rspOffset+RingSize]
	if server {
		r.in, r.inCons, r.inProd = req, w(reqConsOffset), w(reqProdOffset)
		r.out, r.outCons, r.outProd = rsp, w(rspConsOffset), w(rspProdOffset)
	} else {
		r.in, r.inCons, r.inProd = rsp, w(rspConsOffset), w(rspProdOffset)
		r.out, r.outCons, r.outProd = req, w(reqConsOffset), w(reqProdOffset)
	}
	r.cond.L = &r.mu
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.pump(ctx)
	return r, nil
}

// pump turns events into wake-ups of the reader and writer.
func (r *Ring) pump(ctx context.Context) {
	defer close(r.done)
	for {
		err := r.ev.Wait(ctx, r.port)
		r.mu.Lock()
		if err != nil {
			r.closed = true
		}
		r.cond.Broadcast()
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Read reads available bytes, blocking until there is at least one.
func (r *Ring) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.broken != nil {
			return 0, r.broken
		}
		cons := atomic.LoadUint32(r.inCons)
		prod := atomic.LoadUint32(r.inProd)
		if prod-cons > RingSize {
			r.broken = fmt.Errorf("%w: ring producer %d, consumer %d", ErrProtocol, prod, cons)
			return 0, r.broken
		}
		if prod != cons {
			n := 0
			for n < len(p) && cons != prod {
				start := cons % RingSize
				chunk := min(int(prod-cons), RingSize-int(start), len(p)-n)
				copy(p[n:], r.in[start:int(start)+chunk])
				n += chunk
				cons += uint32(chunk)
			}
			atomic.StoreUint32(r.inCons, cons)
			_ = r.ev.Notify(r.port)
			return n, nil
		}
		if r.closed {
			return 0, ErrClosed
		}
		r.cond.Wait()
	}
}

// Write writes all of p, blocking while the ring is full.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) {
		if r.closed {
			return n, ErrClosed
		}
		cons := atomic.LoadUint32(r.outCons)
		prod := atomic.LoadUint32(r.outProd)
		used := prod - cons
		if used > RingSize {
			r.broken = fmt.Errorf("%w: ring consumer %d, producer %d", ErrProtocol, cons, prod)
			return n, r.broken
		}
		if used == RingSize {
			r.cond.Wait()
			continue
		}
		start := prod % RingSize
		chunk := min(RingSize-int(used), RingSize-int(start), len(p)-n)
		copy(r.out[start:], p[n:n+chunk])
		n += chunk
		atomic.StoreUint32(r.outProd, prod+uint32(chunk))
		_ = r.ev.Notify(r.port)
	}
	return n, nil
}

// Close stops the stream and its goroutine; blocked calls return ErrClosed. It does not close
// the event channel, which the caller owns. It is idempotent.
func (r *Ring) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
	})
	return nil
}
