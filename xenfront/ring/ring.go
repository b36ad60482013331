package ring

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"github.com/unikit/unikit/xenfront"
)

// HeaderSize is the size of the shared ring header (struct <name>_sring in io/ring.h):
// req_prod, req_event, rsp_prod, rsp_event, 4 bytes of private union and 44 bytes of padding.
const HeaderSize = 64

// header mirrors the header of io/ring.h's shared ring. The indices are free-running uint32
// values (RING_IDX); every access to them goes through sync/atomic.
type header struct {
	reqProd  uint32
	reqEvent uint32
	rspProd  uint32
	rspEvent uint32
	pvt      [4]byte
	pad      [44]byte
}

// ErrOverflow is returned when the other end publishes an index that claims more entries
// than the ring can hold or than were requested (RING_RESPONSE_PROD_OVERFLOW).
var ErrOverflow = errors.New("ring: shared ring producer index out of range")

// errShortPage is returned for a ring page shorter than xenfront.PageSize.
var errShortPage = errors.New("ring: ring page shorter than 4096 bytes")

// Init initialises a fresh shared ring page (SHARED_RING_INIT): it zeroes the page and sets
// both event indices to 1. The front end does this before granting the page.
func Init(page []byte) {
	clear(page[:xenfront.PageSize])
	h := (*header)(unsafe.Pointer(&page[0]))
	atomic.StoreUint32(&h.reqEvent, 1)
	atomic.StoreUint32(&h.rspEvent, 1)
}

// Size returns the number of slots of a ring whose slot (a union of request and response)
// has slotSize bytes: (4096-64)/slotSize rounded down to a power of two (__RING_SIZE).
func Size(slotSize uintptr) uint32 {
	n := uint32((xenfront.PageSize - HeaderSize) / slotSize)
	p := uint32(1)
	for p*2 <= n {
		p *= 2
	}
	return p
}

// shared is the part common to both ends: the page, its header and the slot geometry.
type shared struct {
	page []byte
	hdr  *header
	size uint32
	slot uintptr
}

func newShared[Req, Rsp any](page []byte) (shared, error) {
	if len(page) < xenfront.PageSize {
		return shared{}, errShortPage
	}
	var req Req
	var rsp Rsp
	slot := max(unsafe.Sizeof(req), unsafe.Sizeof(rsp))
	return shared{
		page: page[:xenfront.PageSize],
		hdr:  (*header)(unsafe.Pointer(&page[0])),
		size: Size(slot),
		slot: slot,
	}, nil
}

// at returns a pointer to the slot for free-running index i; the mask keeps it in the page.
func (s *shared) at(i uint32) unsafe.Pointer {
	return unsafe.Pointer(&s.page[HeaderSize+uintptr(i&(s.size-1))*s.slot])
}

// push publishes producer index nw in prod and reports whether the consumer asked to be
// notified, that is whether its event index lies in (old, nw] (RING_PUSH_*_AND_CHECK_NOTIFY).
// The atomic store is a release, so the slots are visible first, and the following atomic
// load of the event index cannot move before it.
func push(prod, event *uint32, nw uint32) bool {
	old := atomic.LoadUint32(prod)
	atomic.StoreUint32(prod, nw)
	return nw-atomic.LoadUint32(event) < nw-old
}

// finalCheck re-arms event for the entry after cons and reports whether the producer
// published more meanwhile (RING_FINAL_CHECK_FOR_*); if so the caller consumes them before
// sleeping.
func finalCheck(prod, event *uint32, cons uint32) bool {
	if atomic.LoadUint32(prod) != cons {
		return true
	}
	atomic.StoreUint32(event, cons+1)
	return atomic.LoadUint32(prod) != cons
}
