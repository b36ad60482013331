package virtiotest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Queue is the device side of a split virtqueue.
type Queue struct {
	dev   *Device
	index int
	max   int

	// Transport-visible configuration, under dev.mu.
	size                 int
	desc, driver, device uint64
	ready                bool

	notifications atomic.Uint64 // driver notifications of this queue

	mu        sync.Mutex
	on        bool // +checklocks:mu
	descB     []byte
	availB    []byte // split: available ring; packed: driver event suppression
	usedB     []byte // split: used ring; packed: device event suppression
	eventIdx  bool
	lastAvail uint16 // +checklocks:mu; split: avail index; packed: ring position
	usedIdx   uint16 // +checklocks:mu; split: shadow, published by flush; packed: position
	published uint16 // +checklocks:mu

	// Packed ring state (VIRTIO_F_RING_PACKED).
	packed    bool
	availWrap bool     // +checklocks:mu
	usedWrap  bool     // +checklocks:mu
	idDesc    []uint16 // +checklocks:mu; descriptors per outstanding buffer id
	unflushed uint16   // +checklocks:mu; used slots written since the last flush
	heldBack  bool     // +checklocks:mu; the first used descriptor of a batch is not yet visible
	heldPos   int      // +checklocks:mu
	heldWord  uint32   // +checklocks:mu
}

// Notifications returns how many times the driver has notified the device of this queue.
func (q *Queue) Notifications() uint64 { return q.notifications.Load() }

func (q *Queue) reset() {
	q.mu.Lock()
	q.on = false
	q.lastAvail, q.usedIdx, q.published, q.unflushed, q.heldBack = 0, 0, 0, 0, false
	q.availWrap, q.usedWrap = true, true
	q.mu.Unlock()
	q.size, q.desc, q.driver, q.device, q.ready = 0, 0, 0, 0, false
}

// enable maps the queue's areas when the driver sets it ready; called with dev.mu held.
func (q *Queue) enable(eventIdx, packed bool) error {
	if packed {
		return q.enablePacked(eventIdx)
	}
	return q.enableSplit(eventIdx)
}

func word(b []byte, off int) *uint32 {
	if off < 0 || off+4 > len(b) {
		panic("virtio: atomic word outside its area") // unreachable: areas are sized for it
	}
	return (*uint32)(unsafe.Pointer(unsafe.SliceData(b[off:])))
}

// Chain is a descriptor chain popped from the available ring: slices of driver memory.
type Chain struct {
	Head     uint16
	Readable [][]byte
	Writable [][]byte
}

// WritableLen returns the total length of the writable buffers.
func (c *Chain) WritableLen() int {
	n := 0
	for _, w := range c.Writable {
		n += len(w)
	}
	return n
}

// errQueueOff is returned when the queue is not enabled (reset or not yet ready).
var errQueueOff = errors.New("virtiotest: queue not enabled")

// Pop takes the next available chain into c, reusing c's slices. ok is false when the
// available ring is empty. A malformed chain sets DEVICE_NEEDS_RESET and returns an error.
func (q *Queue) Pop(c *Chain) (ok bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pop(c)
}

// +checklocks:q.mu
func (q *Queue) pop(c *Chain) (bool, error) {
	if !q.on {
		return false, errQueueOff
	}
	if q.packed {
		return q.popPacked(c)
	}
	return q.popSplit(c)
}

func (q *Queue) bad(format string, args ...any) error {
	err := fmt.Errorf("virtiotest: queue %d: "+format, append([]any{q.index}, args...)...)
	q.on = false
	go q.dev.fail(err) // takes dev.mu; the caller holds q.mu
	return err
}

// Push appends a used entry; the device publishes it with Flush.
func (q *Queue) Push(head uint16, n uint32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.push(head, n)
}

// +checklocks:q.mu
func (q *Queue) push(head uint16, n uint32) {
	if !q.on {
		return
	}
	if q.packed {
		q.pushPacked(head, n)
		return
	}
	q.pushSplit(head, n)
}

// Flush publishes the pushed entries and interrupts the driver unless it suppressed
// interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with VIRTIO_F_EVENT_IDX).
func (q *Queue) Flush() {
	q.mu.Lock()
	irq := q.flush()
	q.mu.Unlock()
	if irq {
		q.dev.raise(1)
	}
}

// +checklocks:q.mu
func (q *Queue) flush() bool {
	if !q.on {
		return false
	}
	if q.packed {
		return q.flushPacked()
	}
	return q.flushSplit()
}

// EnableNotify asks the driver to notify when it makes the next buffer available and reports
// whether buffers are already available (then the device must keep processing).
func (q *Queue) EnableNotify() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.on {
		return false
	}
	if q.packed {
		return q.enableNotifyPacked()
	}
	return q.enableNotifySplit()
}

// InjectUsed publishes a used entry with arbitrary id and length at once, as a malicious
// device would, and raises the interrupt.
func (q *Queue) InjectUsed(id, n uint32) {
	q.mu.Lock()
	if q.on && q.packed {
		q.writeUsedPacked(uint16(id), n)
		q.publishUsed()
		q.advanceUsed(1)
		q.unflushed = 0
	} else if q.on {
		size := len(q.descB) / 16
		q.putUsed(int(q.usedIdx)%size, id, n)
		q.usedIdx++
		q.published = q.usedIdx
		atomic.StoreUint32(word(q.usedB, 0), uint32(q.usedIdx)<<16)
	}
	q.mu.Unlock()
	q.dev.raise(1)
}

// SetUsedIdx publishes an arbitrary used index (jumping or moving backwards) and raises the
// interrupt. Packed rings have no used index; for them it does nothing but interrupt.
func (q *Queue) SetUsedIdx(idx uint16) {
	q.mu.Lock()
	if q.on && !q.packed {
		q.usedIdx, q.published = idx, idx
		atomic.StoreUint32(word(q.usedB, 0), uint32(idx)<<16)
	}
	q.mu.Unlock()
	q.dev.raise(1)
}

// CountInterrupts makes q's device count its interrupts in *n (for single-goroutine tests).
func CountInterrupts(q *Queue, n *int) { q.dev.SetInterrupt(func() { *n++ }) }

// OnInterrupt sets f as the interrupt handler of q's device.
func OnInterrupt(q *Queue, f func()) { q.dev.SetInterrupt(f) }
