package virtio

import (
	"encoding/binary"
	"sync/atomic"
)

// Packed virtqueue layout (VIRTIO 1.2 section 2.8), pinned by tests.
const (
	// PackedDescFAvail (VIRTQ_DESC_F_AVAIL) and PackedDescFUsed (VIRTQ_DESC_F_USED) are the
	// packed ring's ownership bits in a descriptor's flags.
	PackedDescFAvail = 1 << 7
	PackedDescFUsed  = 1 << 15

	// Event suppression flags (struct pvirtq_event_suppress, flags field).
	PackedEventEnable  = 0 // RING_EVENT_FLAGS_ENABLE
	PackedEventDisable = 1 // RING_EVENT_FLAGS_DISABLE
	PackedEventDesc    = 2 // RING_EVENT_FLAGS_DESC (needs VIRTIO_F_EVENT_IDX)

	// PackedEventSize is the size of struct pvirtq_event_suppress: le16 desc (offset and wrap
	// counter in bit 15), le16 flags.
	PackedEventSize = 4
)

// PackedQueue is the driver side of a packed virtqueue (VIRTIO_F_RING_PACKED). Its methods
// are not safe for concurrent use; the device may run concurrently. Like [SplitQueue] it keeps
// its own record of every posted chain and validates what the device writes.
//
// Each descriptor's id and flags fields form the 32-bit word at offset 12, which the driver
// writes atomically to publish a chain (release) and reads atomically to see a used one
// (acquire); the other fields are ordered by those accesses. Chains are published a batch at
// a time: Add writes every head but the batch's first in place, and KickPrepare stores the
// first one's word last, so one fenced store makes the whole batch available (the device
// reads the ring in order and cannot pass an unpublished head).
type PackedQueue struct {
	size     uint16
	desc     DMA
	driverEv DMA // written by the driver
	deviceEv DMA // written by the device

	eventIdx bool
	indirect int
	tables   DMA // one indirect table per buffer id

	idNext  []uint16
	freeID  uint16
	numFree int // free descriptor slots
	outstanding

	nextAvail uint16
	availWrap bool
	nextUsed  uint16
	usedWrap  bool
	numAdded  uint16 // slots made available since the last KickPrepare
	// pendHead is the first head added since the last KickPrepare, whose id and flags word
	// pendWord KickPrepare publishes (valid while numAdded > 0).
	pendHead uint16
	pendWord uint32
	evFlags  uint16 // shadow of the driver event flags
}

// NewPackedQueue allocates a packed virtqueue of size entries (a power of two from 2 to
// [MaxQueueSize]; the specification allows any size, this driver keeps to powers of two) from
// mem.
func NewPackedQueue(mem Memory, size int, cfg *QueueConfig) (*PackedQueue, error) {
	c, err := queueConfig(size, cfg)
	if err != nil {
		return nil, err
	}
	q := &PackedQueue{size: uint16(size), eventIdx: c.EventIdx, indirect: c.Indirect,
		availWrap: true, usedWrap: true, numFree: size}
	if q.desc, err = mem.Alloc(DescSize*size, 16); err != nil {
		return nil, err
	}
	if q.driverEv, err = mem.Alloc(PackedEventSize, 4); err != nil {
		return nil, err
	}
	if q.deviceEv, err = mem.Alloc(PackedEventSize, 4); err != nil {
		return nil, err
	}
	if q.tables, err = allocTables(mem, size, c.Indirect); err != nil {
		return nil, err
	}
	q.idNext, q.state, q.packed = freeList(size), make([]descState, size), true
	return q, nil
}

// Size returns the number of descriptors.
func (q *PackedQueue) Size() int { return int(q.size) }

// NumFree returns the number of free descriptor slots.
func (q *PackedQueue) NumFree() int { return q.numFree }

// Addrs returns the device addresses of the descriptor ring, the driver event suppression
// structure and the device event suppression structure.
func (q *PackedQueue) Addrs() (desc, driver, device uint64) {
	return q.desc.Addr, q.driverEv.Addr, q.deviceEv.Addr
}

// Err returns the error that broke the queue, or nil.
func (q *PackedQueue) Err() error { return q.err }

// wrapFlags returns AVAIL/USED bits that make a descriptor available in a lap with wrap w.
func wrapFlags(w bool) uint16 {
	if w {
		return PackedDescFAvail
	}
	return PackedDescFUsed
}

// Add posts a chain, as [SplitQueue.Add] does: the device sees it once
// [PackedQueue.KickPrepare] has published the batch. The chain's buffer id is the returned
// value.
func (q *PackedQueue) Add(bufs []Buffer, token uint64) (uint16, error) {
	if q.err != nil {
		return 0, q.err
	}
	writable, useIndirect, need, err := planChain(bufs, q.indirect, q.numFree)
	if err != nil {
		return 0, err
	}
	id := q.freeID
	q.freeID = q.idNext[id]
	head, headWrap := q.nextAvail, q.availWrap
	var headFlags uint16
	if useIndirect {
		table := q.tables.Slice(int(id)*q.indirect*DescSize, q.indirect*DescSize)
		for i, b := range bufs {
			var f uint16
			if b.Write {
				f = DescFWrite
			}
			putPacked(table.Buf, i, b.Addr, b.Len, 0, f)
		}
		q.putDescBody(head, table.Addr, uint32(len(bufs)*DescSize))
		headFlags = DescFIndirect
		q.advance()
	} else {
		for k, b := range bufs {
			var f uint16
			if b.Write {
				f |= DescFWrite
			}
			if k < len(bufs)-1 {
				f |= DescFNext
			}
			if k == 0 {
				q.putDescBody(head, b.Addr, b.Len)
				headFlags = f
			} else {
				putPacked(q.desc.Buf, int(q.nextAvail), b.Addr, b.Len, id, f|wrapFlags(q.availWrap))
			}
			q.advance()
		}
	}
	q.numFree -= need
	q.post(id, token, writable, need)
	w := uint32(id) | uint32(headFlags|wrapFlags(headWrap))<<16
	if q.numAdded == 0 {
		q.pendHead, q.pendWord = head, w // published by KickPrepare, after the rest
	} else {
		// Not yet visible: the device stops at pendHead until KickPrepare publishes it.
		binary.LittleEndian.PutUint32(q.desc.Buf[int(head)*DescSize+12:], w)
	}
	q.numAdded += uint16(need)
	return id, nil
}

func (q *PackedQueue) advance() {
	q.nextAvail++
	if q.nextAvail == q.size {
		q.nextAvail = 0
		q.availWrap = !q.availWrap
	}
}

func (q *PackedQueue) putDescBody(i uint16, addr uint64, n uint32) {
	d := q.desc.Buf[int(i)*DescSize:]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], n)
}

// putPacked writes a whole pvirtq_desc: le64 addr, le32 len, le16 id, le16 flags.
func putPacked(b []byte, i int, addr uint64, n uint32, id, flags uint16) {
	d := b[i*DescSize : i*DescSize+DescSize]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], id)
	binary.LittleEndian.PutUint16(d[14:], flags)
}

// KickPrepare makes the chains added since the last call available to the device and reports
// whether the device must be notified, following the device event suppression structure
// (section 2.8.10).
func (q *PackedQueue) KickPrepare() bool {
	added := q.numAdded
	q.numAdded = 0
	if added == 0 {
		return false
	}
	// Publish the batch: the first head's id and flags last, with a release store that, as
	// a sequentially consistent atomic, is also ordered before the load below.
	atomic.StoreUint32(word(q.desc.Buf, int(q.pendHead)*DescSize+12), q.pendWord)
	ev := atomic.LoadUint32(word(q.deviceEv.Buf, 0))
	flags := uint16(ev>>16) & 3
	if flags != PackedEventDesc || !q.eventIdx {
		return flags != PackedEventDisable
	}
	offWrap := uint16(ev)
	evIdx := offWrap & 0x7fff
	if (offWrap>>15 != 0) != q.availWrap {
		evIdx -= q.size
	}
	new := q.nextAvail
	return needEvent(evIdx, new, new-added)
}

// Get returns the next used chain, as [SplitQueue.Get] does.
func (q *PackedQueue) Get() (u Used, ok bool, err error) {
	if q.err != nil {
		return Used{}, false, q.err
	}
	w := atomic.LoadUint32(word(q.desc.Buf, int(q.nextUsed)*DescSize+12)) // acquire
	flags := uint16(w >> 16)
	avail, used := flags&PackedDescFAvail != 0, flags&PackedDescFUsed != 0
	if avail != used || used != q.usedWrap {
		return Used{}, false, nil
	}
	id := uint16(w)
	n := atomic.LoadUint32(word(q.desc.Buf, int(q.nextUsed)*DescSize+8)) // the device may be writing it
	st, n, err := q.use(uint32(id), n)
	if err != nil {
		return Used{}, false, err
	}
	q.nextUsed += st.ndesc
	if q.nextUsed >= q.size {
		q.nextUsed -= q.size
		q.usedWrap = !q.usedWrap
	}
	q.idNext[id] = q.freeID
	q.freeID = id
	q.numFree += int(st.ndesc)
	return Used{Token: st.token, Head: id, Len: n}, true, nil
}

// ResumeBase returns where a new device takes over the ring after the old one vanished (a
// vhost-user backend that restarted), in the layout of VHOST_USER_SET_VRING_BASE for packed
// rings: the next descriptor to process in bits 0-14 with its wrap counter in bit 15, and the
// next used slot, the same, in bits 16-31. That is the slot after the last used element the
// old device wrote, found by walking the used elements the driver has not taken yet: chains
// made available after it are processed again by the new device (a transmitted frame may go
// out twice, a receive buffer is filled afresh). A chain the old device had consumed but not
// reported, while it reported later ones, is lost with it; DPDK's vhost library completes in
// order, so that does not happen with it.
func (q *PackedQueue) ResumeBase() uint32 {
	pos, wrap := q.nextUsed, q.usedWrap
	for range q.inflight {
		w := atomic.LoadUint32(word(q.desc.Buf, int(pos)*DescSize+12))
		flags := uint16(w >> 16)
		avail, used := flags&PackedDescFAvail != 0, flags&PackedDescFUsed != 0
		id := uint16(w)
		if avail != used || used != wrap || id >= q.size || !q.state[id].active {
			break
		}
		pos += q.state[id].ndesc
		if pos >= q.size {
			pos -= q.size
			wrap = !wrap
		}
	}
	base := uint32(pos)
	if wrap {
		base |= 1 << 15
	}
	return base | base<<16
}

func (q *PackedQueue) setDriverEvent(off uint16, flags uint16) {
	q.evFlags = flags
	atomic.StoreUint32(word(q.driverEv.Buf, 0), uint32(off)|uint32(flags)<<16)
}

// DisableInterrupts asks the device not to interrupt for used buffers.
func (q *PackedQueue) DisableInterrupts() {
	if q.evFlags != PackedEventDisable {
		q.setDriverEvent(0, PackedEventDisable)
	}
}

// EnableInterrupts asks the device to interrupt for the next used buffer and reports whether
// one is already pending.
func (q *PackedQueue) EnableInterrupts() (pending bool) {
	if q.eventIdx {
		off := q.nextUsed
		if q.usedWrap {
			off |= 1 << 15
		}
		q.setDriverEvent(off, PackedEventDesc)
	} else if q.evFlags != PackedEventEnable {
		q.setDriverEvent(0, PackedEventEnable)
	}
	w := atomic.LoadUint32(word(q.desc.Buf, int(q.nextUsed)*DescSize+12))
	flags := uint16(w >> 16)
	avail, used := flags&PackedDescFAvail != 0, flags&PackedDescFUsed != 0
	return avail == used && used == q.usedWrap
}
