package ring

import "sync/atomic"

// Front is the front end's view of a shared ring (io/ring.h FRONT_RING): it writes requests
// and consumes responses. It is not safe for concurrent use; its user serialises.
//
// Requests are built in private memory and copied into their slot; responses are copied out
// of their slot exactly once (RING_COPY_RESPONSE), so a backend that rewrites a slot after
// publishing it cannot change what the front end validated.
type Front[Req, Rsp any] struct {
	s shared
	// ReqProdPvt is the next request index to fill (req_prod_pvt).
	ReqProdPvt uint32
	// RspCons is the next response index to consume (rsp_cons).
	RspCons uint32
}

// NewFront attaches a front ring to page, which the caller initialised with Init.
func NewFront[Req, Rsp any](page []byte) (*Front[Req, Rsp], error) {
	s, err := newShared[Req, Rsp](page)
	if err != nil {
		return nil, err
	}
	return &Front[Req, Rsp]{s: s}, nil
}

// Size returns the number of slots.
func (r *Front[Req, Rsp]) Size() uint32 { return r.s.size }

// Free returns how many requests can be queued before the ring is full.
func (r *Front[Req, Rsp]) Free() uint32 { return r.s.size - (r.ReqProdPvt - r.RspCons) }

// PutRequest copies req into the slot at ReqProdPvt and advances ReqProdPvt. The caller checked
// Free.
func (r *Front[Req, Rsp]) PutRequest(req *Req) {
	*(*Req)(r.s.at(r.ReqProdPvt)) = *req
	r.ReqProdPvt++
}

// Push publishes the queued requests and reports whether the back end must be notified
// (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY).
func (r *Front[Req, Rsp]) Push() bool {
	return push(&r.s.hdr.reqProd, &r.s.hdr.reqEvent, r.ReqProdPvt)
}

// Produced loads rsp_prod once and checks it: the back end may not publish more responses than
// requests are in flight. It returns ErrOverflow for a lying producer index.
func (r *Front[Req, Rsp]) Produced() (uint32, error) {
	rp := atomic.LoadUint32(&r.s.hdr.rspProd)
	if rp-r.RspCons > r.ReqProdPvt-r.RspCons {
		return r.RspCons, ErrOverflow
	}
	return rp, nil
}

// Response returns a private copy of the response at index i.
func (r *Front[Req, Rsp]) Response(i uint32) Rsp { return *(*Rsp)(r.s.at(i)) }

// FinalCheck re-arms rsp_event for the next response and reports whether responses arrived
// meanwhile (RING_FINAL_CHECK_FOR_RESPONSES); if so the caller consumes them before sleeping.
func (r *Front[Req, Rsp]) FinalCheck() bool {
	return finalCheck(&r.s.hdr.rspProd, &r.s.hdr.rspEvent, r.RspCons)
}
