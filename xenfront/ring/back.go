package ring

import "sync/atomic"

// Back is the back end's view of a shared ring (io/ring.h BACK_RING): it consumes requests and
// writes responses. It is not safe for concurrent use.
type Back[Req, Rsp any] struct {
	s shared
	// RspProdPvt is the next response index to fill (rsp_prod_pvt).
	RspProdPvt uint32
	// ReqCons is the next request index to consume (req_cons).
	ReqCons uint32
}

// NewBack attaches a back ring to a page the front end initialised.
func NewBack[Req, Rsp any](page []byte) (*Back[Req, Rsp], error) {
	s, err := newShared[Req, Rsp](page)
	if err != nil {
		return nil, err
	}
	return &Back[Req, Rsp]{s: s}, nil
}

// Size returns the number of slots.
func (r *Back[Req, Rsp]) Size() uint32 { return r.s.size }

// Produced loads req_prod once and checks that the front end does not claim more requests than
// the ring has room for (RING_REQUEST_PROD_OVERFLOW).
func (r *Back[Req, Rsp]) Produced() (uint32, error) {
	rp := atomic.LoadUint32(&r.s.hdr.reqProd)
	if rp-r.RspProdPvt > r.s.size {
		return r.ReqCons, ErrOverflow
	}
	return rp, nil
}

// Request returns a private copy of the request at index i (RING_COPY_REQUEST).
func (r *Back[Req, Rsp]) Request(i uint32) Req { return *(*Req)(r.s.at(i)) }

// PutResponse copies rsp into the slot at RspProdPvt and advances RspProdPvt.
func (r *Back[Req, Rsp]) PutResponse(rsp *Rsp) {
	*(*Rsp)(r.s.at(r.RspProdPvt)) = *rsp
	r.RspProdPvt++
}

// Push publishes the queued responses and reports whether the front end must be notified
// (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY).
func (r *Back[Req, Rsp]) Push() bool {
	return push(&r.s.hdr.rspProd, &r.s.hdr.rspEvent, r.RspProdPvt)
}

// SetResponseProducer stores v as rsp_prod without any check. It exists for simulated
// misbehaving back ends (a producer index that jumps); a real back end never calls it.
func (r *Back[Req, Rsp]) SetResponseProducer(v uint32) {
	atomic.StoreUint32(&r.s.hdr.rspProd, v)
}

// ResponseEvent loads rsp_event: the front end has consumed every response before it when it
// is rsp_prod+1 after a final check.
func (r *Back[Req, Rsp]) ResponseEvent() uint32 { return atomic.LoadUint32(&r.s.hdr.rspEvent) }

// FinalCheck re-arms req_event for the next request and reports whether requests arrived
// meanwhile (RING_FINAL_CHECK_FOR_REQUESTS).
func (r *Back[Req, Rsp]) FinalCheck() bool {
	return finalCheck(&r.s.hdr.reqProd, &r.s.hdr.reqEvent, r.ReqCons)
}
