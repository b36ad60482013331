package xenfront

import (
	"errors"
	"sync/atomic"
	"unsafe"
)

// RingHeaderSize is the size of the shared ring header (struct <name>_sring in io/ring.h):
// req_prod, req_event, rsp_prod, rsp_event, 4 bytes of private union and 44 bytes of padding.
const RingHeaderSize = 64

// ringHeader mirrors the header of io/ring.h's shared ring. The indices are free-running
// uint32 values (RING_IDX); every access to them goes through sync/atomic.
type ringHeader struct {
	reqProd  uint32
	reqEvent uint32
	rspProd  uint32
	rspEvent uint32
	pvt      [4]byte
	pad      [44]byte
}

// ErrRingOverflow is returned when the other end publishes an index that claims more entries
// than the ring can hold or than were requested (RING_RESPONSE_PROD_OVERFLOW).
var ErrRingOverflow = errors.New("xenfront: shared ring producer index out of range")

// errShortPage is returned for a ring page shorter than PageSize.
var errShortPage = errors.New("xenfront: ring page shorter than 4096 bytes")

// InitSharedRing initialises a fresh shared ring page (SHARED_RING_INIT): it zeroes the page
// and sets both event indices to 1. The front end does this before granting the page.
func InitSharedRing(page []byte) {
	clear(page[:PageSize])
	h := (*ringHeader)(unsafe.Pointer(&page[0]))
	atomic.StoreUint32(&h.reqEvent, 1)
	atomic.StoreUint32(&h.rspEvent, 1)
}

// RingSize returns the number of slots of a ring whose slot (a union of request and response)
// has slotSize bytes: (4096-64)/slotSize rounded down to a power of two (__RING_SIZE).
func RingSize(slotSize uintptr) uint32 {
	n := uint32((PageSize - RingHeaderSize) / slotSize)
	p := uint32(1)
	for p*2 <= n {
		p *= 2
	}
	return p
}

// sharedRing is the part common to both ends: the page, its header and the slot geometry.
type sharedRing struct {
	page []byte
	hdr  *ringHeader
	size uint32
	slot uintptr
}

func newSharedRing[Req, Rsp any](page []byte) (sharedRing, error) {
	if len(page) < PageSize {
		return sharedRing{}, errShortPage
	}
	var req Req
	var rsp Rsp
	slot := max(unsafe.Sizeof(req), unsafe.Sizeof(rsp))
	return sharedRing{
		page: page[:PageSize],
		hdr:  (*ringHeader)(unsafe.Pointer(&page[0])),
		size: RingSize(slot),
		slot: slot,
	}, nil
}

// at returns a pointer to the slot for free-running index i; the mask keeps it in the page.
func (s *sharedRing) at(i uint32) unsafe.Pointer {
	return unsafe.Pointer(&s.page[RingHeaderSize+uintptr(i&(s.size-1))*s.slot])
}

// FrontRing is the front end's view of a shared ring (io/ring.h FRONT_RING): it writes
// requests and consumes responses. It is not safe for concurrent use; its user serialises.
//
// Requests are built in private memory and copied into their slot; responses are copied out
// of their slot exactly once (RING_COPY_RESPONSE), so a backend that rewrites a slot after
// publishing it cannot change what the front end validated.
type FrontRing[Req, Rsp any] struct {
	s sharedRing
	// ReqProdPvt is the next request index to fill (req_prod_pvt).
	ReqProdPvt uint32
	// RspCons is the next response index to consume (rsp_cons).
	RspCons uint32
}

// NewFrontRing attaches a front ring to page, which the caller initialised with
// InitSharedRing.
func NewFrontRing[Req, Rsp any](page []byte) (*FrontRing[Req, Rsp], error) {
	s, err := newSharedRing[Req, Rsp](page)
	if err != nil {
		return nil, err
	}
	return &FrontRing[Req, Rsp]{s: s}, nil
}

// Size returns the number of slots.
func (r *FrontRing[Req, Rsp]) Size() uint32 { return r.s.size }

// Free returns how many requests can be queued before the ring is full.
func (r *FrontRing[Req, Rsp]) Free() uint32 { return r.s.size - (r.ReqProdPvt - r.RspCons) }

// PutRequest copies req into the slot at ReqProdPvt and advances ReqProdPvt. The caller checked
// Free.
func (r *FrontRing[Req, Rsp]) PutRequest(req *Req) {
	*(*Req)(r.s.at(r.ReqProdPvt)) = *req
	r.ReqProdPvt++
}

// Push publishes the queued requests and reports whether the back end must be notified
// (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY). The atomic store of req_prod is a release, so the
// slots are visible first, and the following atomic load of req_event cannot move before it.
func (r *FrontRing[Req, Rsp]) Push() bool {
	old := atomic.LoadUint32(&r.s.hdr.reqProd)
	nw := r.ReqProdPvt
	atomic.StoreUint32(&r.s.hdr.reqProd, nw)
	return nw-atomic.LoadUint32(&r.s.hdr.reqEvent) < nw-old
}

// Produced loads rsp_prod once and checks it: the back end may not publish more responses than
// requests are in flight. It returns ErrRingOverflow for a lying producer index.
func (r *FrontRing[Req, Rsp]) Produced() (uint32, error) {
	rp := atomic.LoadUint32(&r.s.hdr.rspProd)
	if rp-r.RspCons > r.ReqProdPvt-r.RspCons {
		return r.RspCons, ErrRingOverflow
	}
	return rp, nil
}

// Response returns a private copy of the response at index i.
func (r *FrontRing[Req, Rsp]) Response(i uint32) Rsp { return *(*Rsp)(r.s.at(i)) }

// FinalCheck re-arms rsp_event for the next response and reports whether responses arrived
// meanwhile (RING_FINAL_CHECK_FOR_RESPONSES); if so the caller consumes them before sleeping.
func (r *FrontRing[Req, Rsp]) FinalCheck() bool {
	if atomic.LoadUint32(&r.s.hdr.rspProd) != r.RspCons {
		return true
	}
	atomic.StoreUint32(&r.s.hdr.rspEvent, r.RspCons+1)
	return atomic.LoadUint32(&r.s.hdr.rspProd) != r.RspCons
}

// BackRing is the back end's view of a shared ring (io/ring.h BACK_RING): it consumes requests
// and writes responses. It is not safe for concurrent use.
type BackRing[Req, Rsp any] struct {
	s sharedRing
	// RspProdPvt is the next response index to fill (rsp_prod_pvt).
	RspProdPvt uint32
	// ReqCons is the next request index to consume (req_cons).
	ReqCons uint32
}

// NewBackRing attaches a back ring to a page the front end initialised.
func NewBackRing[Req, Rsp any](page []byte) (*BackRing[Req, Rsp], error) {
	s, err := newSharedRing[Req, Rsp](page)
	if err != nil {
		return nil, err
	}
	return &BackRing[Req, Rsp]{s: s}, nil
}

// Size returns the number of slots.
func (r *BackRing[Req, Rsp]) Size() uint32 { return r.s.size }

// Produced loads req_prod once and checks that the front end does not claim more requests than
// the ring has room for (RING_REQUEST_PROD_OVERFLOW).
func (r *BackRing[Req, Rsp]) Produced() (uint32, error) {
	rp := atomic.LoadUint32(&r.s.hdr.reqProd)
	if rp-r.RspProdPvt > r.s.size {
		return r.ReqCons, ErrRingOverflow
	}
	return rp, nil
}

// Request returns a private copy of the request at index i (RING_COPY_REQUEST).
func (r *BackRing[Req, Rsp]) Request(i uint32) Req { return *(*Req)(r.s.at(i)) }

// PutResponse copies rsp into the slot at RspProdPvt and advances RspProdPvt.
func (r *BackRing[Req, Rsp]) PutResponse(rsp *Rsp) {
	*(*Rsp)(r.s.at(r.RspProdPvt)) = *rsp
	r.RspProdPvt++
}

// Push publishes the queued responses and reports whether the front end must be notified
// (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY).
func (r *BackRing[Req, Rsp]) Push() bool {
	old := atomic.LoadUint32(&r.s.hdr.rspProd)
	nw := r.RspProdPvt
	atomic.StoreUint32(&r.s.hdr.rspProd, nw)
	return nw-atomic.LoadUint32(&r.s.hdr.rspEvent) < nw-old
}

// SetResponseProducer stores v as rsp_prod without any check. It exists for simulated
// misbehaving back ends (a producer index that jumps); a real back end never calls it.
func (r *BackRing[Req, Rsp]) SetResponseProducer(v uint32) {
	atomic.StoreUint32(&r.s.hdr.rspProd, v)
}

// ResponseEvent loads rsp_event: the front end has consumed every response before it when it
// is rsp_prod+1 after a final check.
func (r *BackRing[Req, Rsp]) ResponseEvent() uint32 { return atomic.LoadUint32(&r.s.hdr.rspEvent) }

// FinalCheck re-arms req_event for the next request and reports whether requests arrived
// meanwhile (RING_FINAL_CHECK_FOR_REQUESTS).
func (r *BackRing[Req, Rsp]) FinalCheck() bool {
	if atomic.LoadUint32(&r.s.hdr.reqProd) != r.ReqCons {
		return true
	}
	atomic.StoreUint32(&r.s.hdr.reqEvent, r.ReqCons+1)
	return atomic.LoadUint32(&r.s.hdr.reqProd) != r.ReqCons
}
