package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/unikit/unikit/virtio"
)

// Device is the transport-independent state of a modelled virtio device: features, status,
// configuration space and queues. [Device.MMIO] and [Device.PCIConfig]/[Device.BAR] expose it
// through a register interface. Its methods are safe for concurrent use.
type Device struct {
	mem *virtio.Arena
	id  uint32

	mu         sync.Mutex
	offered    uint64
	driverFeat uint64
	dfSel      uint32
	gfSel      uint32
	status     uint8
	config     []byte
	generation uint32
	churn      int // generation reads that still bump the generation
	queueSel   uint32
	queues     []*Queue
	isr        uint32
	rejectFeat bool
	pciCfg     [256]byte

	irq        atomic.Pointer[func()]
	onNotify   func(q int)
	onDriverOK func()
	onReset    func()
	brokenErr  atomic.Pointer[error]
}

// NewDevice returns a device of type id with the given offered features, configuration space
// and queues of at most queueMax entries each, reading and writing driver memory in mem.
func NewDevice(mem *virtio.Arena, id uint32, offered uint64, config []byte, queues, queueMax int) *Device {
	d := &Device{mem: mem, id: id, offered: offered, config: append([]byte(nil), config...)}
	for i := range queues {
		d.queues = append(d.queues, &Queue{dev: d, index: i, max: queueMax})
	}
	d.initPCIConfig()
	return d
}

// SetInterrupt sets the function the device calls to raise its interrupt: the driver's
// interrupt handler. It is called from the device's goroutines without locks held.
func (d *Device) SetInterrupt(f func()) { d.irq.Store(&f) }

// Queue returns the device side of queue i.
func (d *Device) Queue(i int) *Queue { return d.queues[i] }

// Status returns the device status.
func (d *Device) Status() virtio.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return virtio.Status(d.status)
}

// DriverFeatures returns the features the driver wrote.
func (d *Device) DriverFeatures() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.driverFeat
}

// Err returns why the device model set DEVICE_NEEDS_RESET on its own (a driver error), or nil.
func (d *Device) Err() error {
	if p := d.brokenErr.Load(); p != nil {
		return *p
	}
	return nil
}

// raise sets interrupt status bits and calls the interrupt handler.
func (d *Device) raise(bits uint32) {
	d.mu.Lock()
	d.isr |= bits
	d.mu.Unlock()
	if f := d.irq.Load(); f != nil {
		(*f)()
	}
}

// SetConfig writes b into the configuration space at off, bumps the generation counter and
// raises a configuration change interrupt.
func (d *Device) SetConfig(off int, b []byte) {
	d.mu.Lock()
	copy(d.config[off:], b)
	d.generation++
	d.mu.Unlock()
	d.raise(2)
}

// ChurnGeneration makes the next n reads of the generation counter each return a new value,
// as if the configuration changed during every read.
func (d *Device) ChurnGeneration(n int) {
	d.mu.Lock()
	d.churn = n
	d.mu.Unlock()
}

// RejectFeatures makes the device refuse FEATURES_OK.
func (d *Device) RejectFeatures(reject bool) {
	d.mu.Lock()
	d.rejectFeat = reject
	d.mu.Unlock()
}

// NeedsReset sets DEVICE_NEEDS_RESET and raises a configuration change interrupt, as a device
// does after an internal error (section 2.1.2).
func (d *Device) NeedsReset() {
	d.mu.Lock()
	d.status |= uint8(virtio.StatusDeviceNeedsReset)
	d.mu.Unlock()
	d.raise(2)
}

// fail records a driver error found by the device and sets DEVICE_NEEDS_RESET.
func (d *Device) fail(err error) {
	if d.brokenErr.CompareAndSwap(nil, &err) {
		d.NeedsReset()
	}
}

func (d *Device) readGeneration() uint32 {
	if d.churn > 0 {
		d.churn--
		d.generation++
	}
	return d.generation
}

func (d *Device) readConfig(off uint32, n int) uint32 {
	var v uint32
	for i := n - 1; i >= 0; i-- {
		v <<= 8
		if o := uint64(off) + uint64(i); o < uint64(len(d.config)) {
			v |= uint32(d.config[o])
		}
	}
	return v
}

func (d *Device) deviceFeatures() uint32 {
	switch d.dfSel {
	case 0:
		return uint32(d.offered)
	case 1:
		return uint32(d.offered >> 32)
	}
	return 0
}

func (d *Device) setDriverFeatures(v uint32) {
	switch d.gfSel {
	case 0:
		d.driverFeat = d.driverFeat&^0xffffffff | uint64(v)
	case 1:
		d.driverFeat = d.driverFeat&0xffffffff | uint64(v)<<32
	}
}

// setStatus handles a status write; it returns the callback to run after unlocking.
func (d *Device) setStatus(v uint8) func() {
	if v == 0 {
		d.status = 0
		d.driverFeat = 0
		d.isr = 0
		for _, q := range d.queues {
			q.reset()
		}
		return d.onReset
	}
	old := d.status
	if v&uint8(virtio.StatusFeaturesOK) != 0 && old&uint8(virtio.StatusFeaturesOK) == 0 {
		if d.rejectFeat || d.driverFeat&^d.offered != 0 || d.driverFeat&virtio.FeatureVersion1 == 0 {
			v &^= uint8(virtio.StatusFeaturesOK)
		}
	}
	d.status = v | old&uint8(virtio.StatusDeviceNeedsReset)
	if v&uint8(virtio.StatusDriverOK) != 0 && old&uint8(virtio.StatusDriverOK) == 0 {
		return d.onDriverOK
	}
	return nil
}

func (d *Device) selected() *Queue {
	if int(d.queueSel) < len(d.queues) {
		return d.queues[d.queueSel]
	}
	return nil
}

func (d *Device) notify(q uint32) {
	if int(q) < len(d.queues) && d.onNotify != nil {
		d.onNotify(int(q))
	}
}

// Queue is the device side of a split virtqueue.
type Queue struct {
	dev   *Device
	index int
	max   int

	// Transport-visible configuration, under dev.mu.
	size                 int
	desc, driver, device uint64
	ready                bool

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
	n := q.size
	if packed {
		if n < 1 || n > q.max {
			return fmt.Errorf("queue %d: bad size %d", q.index, n)
		}
		descB, ok1 := q.dev.mem.Slice(q.desc, uint32(16*n))
		drv, ok2 := q.dev.mem.Slice(q.driver, virtio.PackedEventSize)
		dev, ok3 := q.dev.mem.Slice(q.device, virtio.PackedEventSize)
		if !ok1 || !ok2 || !ok3 || q.desc%16 != 0 || q.driver%4 != 0 || q.device%4 != 0 {
			return fmt.Errorf("queue %d: areas outside memory or misaligned", q.index)
		}
		q.mu.Lock()
		q.descB, q.availB, q.usedB, q.eventIdx, q.on, q.packed = descB, drv, dev, eventIdx, true, true
		q.availWrap, q.usedWrap, q.idDesc = true, true, make([]uint16, n)
		q.mu.Unlock()
		return nil
	}
	if n < 1 || n > q.max || n&(n-1) != 0 {
		return fmt.Errorf("queue %d: bad size %d", q.index, n)
	}
	descB, ok1 := q.dev.mem.Slice(q.desc, uint32(16*n))
	availB, ok2 := q.dev.mem.Slice(q.driver, uint32(virtio.SplitAvailSize(n)+2))
	usedB, ok3 := q.dev.mem.Slice(q.device, uint32(virtio.SplitUsedSize(n)+2))
	if !ok1 || !ok2 || !ok3 || q.driver%4 != 0 || q.device%4 != 0 {
		return fmt.Errorf("queue %d: areas outside memory or misaligned", q.index)
	}
	q.mu.Lock()
	q.descB, q.availB, q.usedB, q.eventIdx, q.on, q.packed = descB, availB, usedB, eventIdx, true, false
	q.mu.Unlock()
	return nil
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
	n := len(q.descB) / 16
	avail := uint16(atomic.LoadUint32(word(q.availB, 0)) >> 16)
	if avail == q.lastAvail {
		return false, nil
	}
	if int(avail-q.lastAvail) > n {
		return false, q.bad("avail index moved from %d to %d", q.lastAvail, avail)
	}
	head := binary.LittleEndian.Uint16(q.availB[4+2*(int(q.lastAvail)%n):])
	q.lastAvail++
	c.Head, c.Readable, c.Writable = head, c.Readable[:0], c.Writable[:0]
	table, tn := q.descB, n
	i, seen := int(head), 0
	indirect := false
	for {
		if i >= tn {
			return false, q.bad("descriptor %d out of range", i)
		}
		if seen++; seen > tn {
			return false, q.bad("descriptor chain loops")
		}
		e := table[16*i : 16*i+16]
		addr, ln := binary.LittleEndian.Uint64(e), binary.LittleEndian.Uint32(e[8:])
		flags, next := binary.LittleEndian.Uint16(e[12:]), binary.LittleEndian.Uint16(e[14:])
		if flags&virtio.DescFIndirect != 0 {
			if indirect || flags&virtio.DescFNext != 0 || ln%16 != 0 || ln == 0 || int(ln/16) > n || seen > 1 {
				return false, q.bad("bad indirect descriptor")
			}
			t, ok := q.dev.mem.Slice(addr, ln)
			if !ok {
				return false, q.bad("indirect table outside memory")
			}
			table, tn, i, seen, indirect = t, int(ln/16), 0, 0, true
			continue
		}
		b, ok := q.dev.mem.Slice(addr, ln)
		if !ok {
			return false, q.bad("buffer %#x+%d outside memory", addr, ln)
		}
		if flags&virtio.DescFWrite != 0 {
			c.Writable = append(c.Writable, b)
		} else {
			if len(c.Writable) > 0 {
				return false, q.bad("readable descriptor after a writable one")
			}
			c.Readable = append(c.Readable, b)
		}
		if flags&virtio.DescFNext == 0 {
			return true, nil
		}
		i = int(next)
	}
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
	size := len(q.descB) / 16
	e := q.usedB[4+8*(int(q.usedIdx)%size):]
	binary.LittleEndian.PutUint32(e, uint32(head))
	binary.LittleEndian.PutUint32(e[4:], n)
	q.usedIdx++
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
	if q.on && q.packed {
		return q.flushPacked()
	}
	if !q.on || q.published == q.usedIdx {
		return false
	}
	old, new := q.published, q.usedIdx
	q.published = new
	atomic.StoreUint32(word(q.usedB, 0), uint32(new)<<16) // release
	size := len(q.descB) / 16
	if q.eventIdx {
		ev := uint16(atomic.LoadUint32(word(q.availB, 4+2*size)))
		return new-ev-1 < new-old
	}
	return atomic.LoadUint32(word(q.availB, 0))&virtio.AvailFNoInterrupt == 0
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
	if q.eventIdx {
		atomic.StoreUint32(word(q.usedB, 4+8*(len(q.descB)/16)), uint32(q.lastAvail))
	}
	return uint16(atomic.LoadUint32(word(q.availB, 0))>>16) != q.lastAvail
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
		e := q.usedB[4+8*(int(q.usedIdx)%size):]
		binary.LittleEndian.PutUint32(e, id)
		binary.LittleEndian.PutUint32(e[4:], n)
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
