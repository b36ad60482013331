package virtio

import (
	"encoding/binary"
	"sync/atomic"
)

// Split virtqueue layout (VIRTIO 1.2 section 2.7): sizes and offsets, pinned by tests.
const (
	// UsedElemSize is the size of struct virtq_used_elem: le32 id, le32 len.
	UsedElemSize = 8

	// AvailFNoInterrupt (VIRTQ_AVAIL_F_NO_INTERRUPT) asks the device not to interrupt.
	AvailFNoInterrupt = 1
	// UsedFNoNotify (VIRTQ_USED_F_NO_NOTIFY) tells the driver not to notify.
	UsedFNoNotify = 1
)

// SplitAvailSize returns the size of the available ring (driver area) of a queue of size q:
// le16 flags, le16 idx, le16 ring[q], le16 used_event.
func SplitAvailSize(q int) int { return 6 + 2*q }

// SplitUsedSize returns the size of the used ring (device area) of a queue of size q: le16
// flags, le16 idx, virtq_used_elem ring[q], le16 avail_event.
func SplitUsedSize(q int) int { return 6 + 8*q }

// SplitQueue is the driver side of a split virtqueue. Its methods are not safe for concurrent
// use: a driver serialises access to each queue. The device may run concurrently.
//
// The driver's view of the chains it posted (free list, links, lengths, tokens) lives in
// private memory; the shared rings are only written, never read back, except the fields the
// device owns (used ring and avail_event), which are read once and validated.
type SplitQueue struct {
	size uint16
	mask uint16
	desc DMA // descriptor table, 16*size bytes
	// avail and used are allocated with slack so that the 16-bit event fields can be accessed
	// with 32-bit atomics.
	avail DMA
	used  DMA

	eventIdx bool
	indirect int
	tables   DMA // size indirect tables of indirect entries each, table i for head i

	next     []uint16 // private copy of each descriptor's next link
	freeHead uint16
	numFree  int
	outstanding

	availIdx   uint16 // shadow of avail.idx
	availFlags uint16 // shadow of avail.flags
	kickedIdx  uint16 // avail.idx at the last KickPrepare
	lastUsed   uint16
}

// NewSplitQueue allocates a split virtqueue of size entries (a power of two from 2 to
// [MaxQueueSize]) from mem.
func NewSplitQueue(mem Memory, size int, cfg *QueueConfig) (*SplitQueue, error) {
	c, err := queueConfig(size, cfg)
	if err != nil {
		return nil, err
	}
	q := &SplitQueue{size: uint16(size), mask: uint16(size - 1), eventIdx: c.EventIdx, indirect: c.Indirect}
	if q.desc, err = mem.Alloc(DescSize*size, 16); err != nil {
		return nil, err
	}
	if q.avail, err = mem.Alloc(SplitAvailSize(size)+2, 4); err != nil {
		return nil, err
	}
	if q.used, err = mem.Alloc(SplitUsedSize(size)+2, 4); err != nil {
		return nil, err
	}
	if q.tables, err = allocTables(mem, size, c.Indirect); err != nil {
		return nil, err
	}
	q.next, q.state = freeList(size), make([]descState, size)
	q.numFree = size
	return q, nil
}

// Size returns the number of descriptors.
func (q *SplitQueue) Size() int { return int(q.size) }

// NumFree returns the number of free descriptors.
func (q *SplitQueue) NumFree() int { return q.numFree }

// Addrs returns the device addresses of the descriptor area, the driver area (available
// ring) and the device area (used ring), for the transport's queue setup.
func (q *SplitQueue) Addrs() (desc, driver, device uint64) {
	return q.desc.Addr, q.avail.Addr, q.used.Addr
}

// Err returns the error that broke the queue, or nil.
func (q *SplitQueue) Err() error { return q.err }

func putDesc(b []byte, i int, addr uint64, n uint32, flags, next uint16) {
	d := b[i*DescSize : i*DescSize+DescSize]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

// Add posts a chain of buffers with the driver's token. The device sees it once
// [SplitQueue.KickPrepare] publishes the avail index, which it does once for all the chains
// added since the last call (one fenced store a batch, not one a chain). Device-readable
// buffers must come before device-writable ones. It returns the chain's head descriptor
// index, or ErrQueueFull when there are not enough free descriptors. It does not allocate.
func (q *SplitQueue) Add(bufs []Buffer, token uint64) (uint16, error) {
	if q.err != nil {
		return 0, q.err
	}
	writable, useIndirect, need, err := planChain(bufs, q.indirect, q.numFree)
	if err != nil {
		return 0, err
	}
	head := q.freeHead
	if useIndirect {
		q.freeHead = q.next[head]
		q.numFree--
		table := q.tables.Slice(int(head)*q.indirect*DescSize, q.indirect*DescSize)
		for i, b := range bufs {
			var flags uint16
			if b.Write {
				flags |= DescFWrite
			}
			if i < len(bufs)-1 {
				flags |= DescFNext
			}
			putDesc(table.Buf, i, b.Addr, b.Len, flags, uint16(i+1))
		}
		putDesc(q.desc.Buf, int(head), table.Addr, uint32(len(bufs)*DescSize), DescFIndirect, 0)
	} else {
		i := head
		for k, b := range bufs {
			var flags uint16
			if b.Write {
				flags |= DescFWrite
			}
			n := q.next[i]
			if k < len(bufs)-1 {
				flags |= DescFNext
			}
			putDesc(q.desc.Buf, int(i), b.Addr, b.Len, flags, n)
			if k < len(bufs)-1 {
				i = n
			} else {
				q.freeHead = n
			}
		}
		q.numFree -= len(bufs)
	}
	q.state[head] = descState{token: token, writable: writable, ndesc: uint16(need), active: true}
	q.inflight++
	binary.LittleEndian.PutUint16(q.avail.Buf[4+2*int(q.availIdx&q.mask):], head)
	q.availIdx++
	return head, nil
}

// KickPrepare makes the chains added since the last call available to the device, by
// publishing the avail index, and reports whether the device must be notified about them,
// following the device's avail_event (VIRTIO_F_EVENT_IDX) or its NO_NOTIFY flag.
func (q *SplitQueue) KickPrepare() bool {
	old, new := q.kickedIdx, q.availIdx
	q.kickedIdx = new
	if old == new {
		return false
	}
	// Release store: descriptors and ring entries are visible before the index. Being a
	// sequentially consistent atomic, it is also ordered before the load below (the full
	// barrier of section 2.7.13).
	atomic.StoreUint32(word(q.avail.Buf, 0), uint32(q.availIdx)<<16|uint32(q.availFlags))
	if q.eventIdx {
		ev := uint16(atomic.LoadUint32(word(q.used.Buf, 4+8*int(q.size))))
		return needEvent(ev, new, old)
	}
	return atomic.LoadUint32(word(q.used.Buf, 0))&UsedFNoNotify == 0
}

// AvailIdx returns the driver's avail index, the value of VIRTIO_F_NOTIFICATION_DATA.
func (q *SplitQueue) AvailIdx() uint16 { return q.availIdx }

// Get returns the next completed chain and frees its descriptors. ok is false when there is
// none. A device that breaks the protocol (index moved by more than the queue size, id out of
// range or not an outstanding head, length beyond the chain's writable buffers) breaks the
// queue: Get returns an error wrapping [ErrDeviceBroken] now and on every later call.
func (q *SplitQueue) Get() (u Used, ok bool, err error) {
	if q.err != nil {
		return Used{}, false, q.err
	}
	usedIdx := uint16(atomic.LoadUint32(word(q.used.Buf, 0)) >> 16) // acquire
	pending := usedIdx - q.lastUsed
	if pending == 0 {
		return Used{}, false, nil
	}
	if int(pending) > q.inflight {
		return Used{}, false, q.fail("used index moved from %d to %d with %d chains outstanding", q.lastUsed, usedIdx, q.inflight)
	}
	// Each field is read exactly once, and atomically: the device may be writing the element
	// at this moment (a misbehaving one can publish an index before its entries), and what
	// is read is validated below, never re-read.
	e := 4 + UsedElemSize*int(q.lastUsed&q.mask)
	id := atomic.LoadUint32(word(q.used.Buf, e))
	n := atomic.LoadUint32(word(q.used.Buf, e+4))
	st, n, err := q.use(id, n)
	if err != nil {
		return Used{}, false, err
	}
	q.lastUsed++
	q.free(uint16(id), st.ndesc)
	return Used{Token: st.token, Head: uint16(id), Len: n}, true, nil
}

// free returns the ndesc descriptors of the chain at head to the free list, following the
// private links.
func (q *SplitQueue) free(head, ndesc uint16) {
	tail := head
	for k := uint16(1); k < ndesc; k++ {
		tail = q.next[tail]
	}
	q.next[tail] = q.freeHead
	q.freeHead = head
	q.numFree += int(ndesc)
}

// DisableInterrupts asks the device not to interrupt for used buffers (a hint). With
// EVENT_IDX this is implicit: the used_event is simply not advanced.
func (q *SplitQueue) DisableInterrupts() {
	if q.eventIdx || q.availFlags&AvailFNoInterrupt != 0 {
		return
	}
	q.availFlags |= AvailFNoInterrupt
	atomic.StoreUint32(word(q.avail.Buf, 0), uint32(q.availIdx)<<16|uint32(q.availFlags))
}

// EnableInterrupts asks the device to interrupt when it uses the next buffer and reports
// whether used buffers are already pending, in which case the caller must keep reaping
// instead of sleeping (the device may have completed them before it saw the request).
func (q *SplitQueue) EnableInterrupts() (pending bool) {
	if q.eventIdx {
		atomic.StoreUint32(word(q.avail.Buf, 4+2*int(q.size)), uint32(q.lastUsed))
	} else if q.availFlags&AvailFNoInterrupt != 0 {
		q.availFlags &^= AvailFNoInterrupt
		atomic.StoreUint32(word(q.avail.Buf, 0), uint32(q.availIdx)<<16|uint32(q.availFlags))
	}
	// Full barrier (the atomic store above) before re-reading the used index.
	return uint16(atomic.LoadUint32(word(q.used.Buf, 0))>>16) != q.lastUsed
}
