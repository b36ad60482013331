package virtiotest

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/unikit/unikit/virtio"
)

// The device side of a split virtqueue (VIRTIO 1.2 section 2.7).

// enableSplit maps the descriptor table, available ring and used ring of a split queue;
// called with dev.mu held.
func (q *Queue) enableSplit(eventIdx bool) error {
	n := q.size
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

// popSplit takes the next chain from the available ring, following its descriptors (and an
// indirect table) in driver memory and validating them.
// +checklocks:q.mu
func (q *Queue) popSplit(c *Chain) (bool, error) {
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

// putUsed writes used element i of a split ring. The fields are stored atomically although
// only the used index publishes them: a driver that reads past a used index the model pushed
// out of range (InjectUsed, SetUsedIdx) reads elements the device may be writing, as it
// would on real hardware, and the race detector must not mistake the model for the driver.
func (q *Queue) putUsed(i int, id, n uint32) {
	atomic.StoreUint32(word(q.usedB, 4+8*i), id)
	atomic.StoreUint32(word(q.usedB, 8+8*i), n)
}

// pushSplit writes a used element; flushSplit publishes it.
// +checklocks:q.mu
func (q *Queue) pushSplit(head uint16, n uint32) {
	size := len(q.descB) / 16
	q.putUsed(int(q.usedIdx)%size, uint32(head), n)
	q.usedIdx++
}

// flushSplit publishes the used index and decides whether to interrupt, from the driver's
// used_event (VIRTIO_F_EVENT_IDX) or its NO_INTERRUPT flag.
// +checklocks:q.mu
func (q *Queue) flushSplit() bool {
	if q.published == q.usedIdx {
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

// enableNotifySplit sets the avail_event (VIRTIO_F_EVENT_IDX) and reports whether chains are
// already available.
// +checklocks:q.mu
func (q *Queue) enableNotifySplit() bool {
	if q.eventIdx {
		atomic.StoreUint32(word(q.usedB, 4+8*(len(q.descB)/16)), uint32(q.lastAvail))
	}
	return uint16(atomic.LoadUint32(word(q.availB, 0))>>16) != q.lastAvail
}
