// Package ring is Xen's generic shared ring (io/ring.h) in Go: one page shared by a front end
// and a back end, a 64-byte header of free-running producer and event indices, then a
// power-of-two array of slots that each hold a request or its response.
//
// Front is the front end's view (FRONT_RING: it puts requests and consumes responses), Back
// the back end's (BACK_RING). Both are generic over the request and response types, which the
// protocol on top defines with their C layouts (package netif for io/netif.h); a slot is as
// large as the larger of the two. Init prepares a fresh page (SHARED_RING_INIT) and Size
// computes the slot count (__RING_SIZE).
//
// Every index the other domain writes is read with sync/atomic and checked (Produced returns
// ErrOverflow for a producer claiming more than is possible); requests and responses are
// copied into and out of their slot exactly once, so the other end cannot change a slot after
// it was validated. Publishing and the final check before sleeping follow the macros
// RING_PUSH_*_AND_CHECK_NOTIFY and RING_FINAL_CHECK_FOR_*, so notifications are sent only when
// the other end asked for them.
//
// The package depends only on xenfront's PageSize; it knows nothing of grants or event
// channels, which the driver using a ring wires up.
package ring
