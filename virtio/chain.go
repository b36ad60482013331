package virtio

import (
	"errors"
	"fmt"
)

// Errors of a buffer chain handed to a queue's Add.
var (
	errEmptyChain = errors.New("virtio: empty buffer chain")
	errChainOrder = errors.New("virtio: device-readable buffer after a device-writable one")
)

// planChain checks a chain for Add, the same for split and packed queues: it must not be
// empty, and device-readable buffers come before device-writable ones. It returns the bytes
// the device may write, whether the chain goes into one indirect descriptor (it has more than
// one buffer and at most indirectMax), and how many ring descriptors it needs, or ErrQueueFull
// when numFree are not enough.
func planChain(bufs []Buffer, indirectMax, numFree int) (writable uint64, useIndirect bool, need int, err error) {
	if len(bufs) == 0 {
		return 0, false, 0, errEmptyChain
	}
	seenWrite := false
	for _, b := range bufs {
		if b.Write {
			seenWrite = true
			writable += uint64(b.Len)
		} else if seenWrite {
			return 0, false, 0, errChainOrder
		}
	}
	useIndirect = len(bufs) > 1 && len(bufs) <= indirectMax
	need = len(bufs)
	if useIndirect {
		need = 1
	}
	if need > numFree {
		return 0, false, 0, ErrQueueFull
	}
	return writable, useIndirect, need, nil
}

// descState is the driver's private record of one outstanding chain.
type descState struct {
	token    uint64
	writable uint64 // total length of the device-writable buffers
	ndesc    uint16 // ring descriptors the chain occupies
	active   bool
}

// outstanding is a queue's private record of the chains it posted that the device has not
// used yet, the same for split and packed rings: keyed by a chain's head descriptor (split) or
// its buffer id (packed), with the error that broke the queue. Used elements the device
// writes are checked against it.
type outstanding struct {
	state    []descState
	inflight int  // chains outstanding
	packed   bool // ids are buffer ids, not head descriptors (it words the errors)
	err      error
}

// post records the chain posted under id.
func (o *outstanding) post(id uint16, token, writable uint64, ndesc int) {
	o.state[id] = descState{token: token, writable: writable, ndesc: uint16(ndesc), active: true}
	o.inflight++
}

// use checks the used element (id, n) the device wrote against the record and retires the
// chain: it returns the chain's record and its used length, zero for chains without writable
// buffers (whose used length is meaningless). An id out of range or not outstanding, or a
// length beyond the chain's writable buffers, breaks the queue.
func (o *outstanding) use(id, n uint32) (descState, uint32, error) {
	if id >= uint32(len(o.state)) {
		return descState{}, 0, o.fail("used id %d out of range", id)
	}
	st := o.state[id]
	if !st.active {
		if o.packed {
			return descState{}, 0, o.fail("used id %d is not an outstanding buffer", id)
		}
		return descState{}, 0, o.fail("used id %d is not the head of an outstanding chain", id)
	}
	if st.writable == 0 {
		n = 0
	} else if uint64(n) > st.writable {
		unit := "chain"
		if o.packed {
			unit = "buffer"
		}
		return descState{}, 0, o.fail("used length %d exceeds the %d writable bytes of %s %d", n, st.writable, unit, id)
	}
	o.state[id] = descState{}
	o.inflight--
	return st, n, nil
}

// fail breaks the queue: the error, which wraps [ErrDeviceBroken], is returned now and by
// every later call.
func (o *outstanding) fail(format string, args ...any) error {
	o.err = fmt.Errorf("%w: "+format, append([]any{ErrDeviceBroken}, args...)...)
	return o.err
}

// freeList returns a free list of size entries in which entry i links to i+1; the last link
// is never followed, as the count of free entries bounds every walk.
func freeList(size int) []uint16 {
	l := make([]uint16, size)
	for i := range l {
		l[i] = uint16(i + 1)
	}
	return l
}
