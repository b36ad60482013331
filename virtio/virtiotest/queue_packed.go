package virtiotest

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/unikit/unikit/virtio"
)

// The device side of a packed virtqueue (VIRTIO 1.2 section 2.8).

// enablePacked maps the descriptor ring and the two event suppression structures of a packed
// queue; called with dev.mu held.
func (q *Queue) enablePacked(eventIdx bool) error {
	n := q.size
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

func isAvail(flags uint16, wrap bool) bool {
	a, u := flags&virtio.PackedDescFAvail != 0, flags&virtio.PackedDescFUsed != 0
	return a == wrap && u != wrap
}

// +checklocks:q.mu
func (q *Queue) popPacked(c *Chain) (bool, error) {
	n := len(q.descB) / 16
	pos, wrap := int(q.lastAvail), q.availWrap
	if !isAvail(uint16(atomic.LoadUint32(word(q.descB, pos*16+12))>>16), wrap) { // acquire
		return false, nil
	}
	c.Readable, c.Writable = c.Readable[:0], c.Writable[:0]
	count := 0
	var id uint16
	for {
		if count >= n {
			return false, q.bad("packed chain longer than the ring")
		}
		e := q.descB[pos*16 : pos*16+16]
		addr, ln := binary.LittleEndian.Uint64(e), binary.LittleEndian.Uint32(e[8:])
		id = binary.LittleEndian.Uint16(e[12:])
		flags := binary.LittleEndian.Uint16(e[14:])
		if count > 0 && !isAvail(flags, wrap) {
			return false, q.bad("packed chain continues into a descriptor that is not available")
		}
		if flags&virtio.DescFIndirect != 0 {
			if count > 0 || flags&virtio.DescFNext != 0 || ln%16 != 0 || ln == 0 || int(ln/16) > n {
				return false, q.bad("bad indirect descriptor")
			}
			t, ok := q.dev.mem.Slice(addr, ln)
			if !ok {
				return false, q.bad("indirect table outside memory")
			}
			for i := 0; i < int(ln/16); i++ {
				te := t[i*16 : i*16+16]
				if err := q.appendBuf(c, binary.LittleEndian.Uint64(te), binary.LittleEndian.Uint32(te[8:]),
					binary.LittleEndian.Uint16(te[14:])&virtio.DescFWrite != 0); err != nil {
					return false, err
				}
			}
		} else if err := q.appendBuf(c, addr, ln, flags&virtio.DescFWrite != 0); err != nil {
			return false, err
		}
		count++
		if pos++; pos == n {
			pos, wrap = 0, !wrap
		}
		if flags&virtio.DescFNext == 0 {
			break
		}
	}
	if int(id) >= n {
		return false, q.bad("buffer id %d out of range", id)
	}
	q.lastAvail, q.availWrap = uint16(pos), wrap
	q.idDesc[id] = uint16(count)
	c.Head = id
	return true, nil
}

// +checklocks:q.mu
func (q *Queue) appendBuf(c *Chain, addr uint64, ln uint32, write bool) error {
	b, ok := q.dev.mem.Slice(addr, ln)
	if !ok {
		return q.bad("buffer %#x+%d outside memory", addr, ln)
	}
	if write {
		c.Writable = append(c.Writable, b)
	} else {
		if len(c.Writable) > 0 {
			return q.bad("readable descriptor after a writable one")
		}
		c.Readable = append(c.Readable, b)
	}
	return nil
}

// writeUsedPacked writes a used descriptor at the device's used position. The first one of a
// batch is held back until publishUsed, so that the driver sees the batch (for example all
// the buffers of a merged receive frame) at once, as section 2.8.11 allows.
// +checklocks:q.mu
func (q *Queue) writeUsedPacked(id uint16, n uint32) {
	pos := int(q.usedIdx)
	binary.LittleEndian.PutUint32(q.descB[pos*16+8:], n)
	var flags uint16
	if q.usedWrap {
		flags = virtio.PackedDescFAvail | virtio.PackedDescFUsed
	}
	w := uint32(id) | uint32(flags)<<16
	if !q.heldBack {
		q.heldBack, q.heldPos, q.heldWord = true, pos, w
		return
	}
	atomic.StoreUint32(word(q.descB, pos*16+12), w) // release
}

// publishUsed makes the held-back first used descriptor of a batch visible.
// +checklocks:q.mu
func (q *Queue) publishUsed() {
	if q.heldBack {
		q.heldBack = false
		atomic.StoreUint32(word(q.descB, q.heldPos*16+12), q.heldWord) // release
	}
}

// +checklocks:q.mu
func (q *Queue) advanceUsed(k int) {
	n := len(q.descB) / 16
	pos := int(q.usedIdx) + k
	if pos >= n {
		pos -= n
		q.usedWrap = !q.usedWrap
	}
	q.usedIdx = uint16(pos)
	q.unflushed += uint16(k)
}

// +checklocks:q.mu
func (q *Queue) pushPacked(id uint16, n uint32) {
	k := 1
	if int(id) < len(q.idDesc) && q.idDesc[id] > 0 {
		k = int(q.idDesc[id])
		q.idDesc[id] = 0
	}
	q.writeUsedPacked(id, n)
	q.advanceUsed(k)
}

// flushPacked decides whether to interrupt, from the driver event suppression structure.
// +checklocks:q.mu
func (q *Queue) flushPacked() bool {
	q.publishUsed()
	added := q.unflushed
	q.unflushed = 0
	if added == 0 {
		return false
	}
	ev := atomic.LoadUint32(word(q.availB, 0))
	flags := uint16(ev>>16) & 3
	if flags != virtio.PackedEventDesc || !q.eventIdx {
		return flags != virtio.PackedEventDisable
	}
	off := uint16(ev) & 0x7fff
	if (uint16(ev)>>15 != 0) != q.usedWrap {
		off -= uint16(len(q.descB) / 16)
	}
	new := q.usedIdx
	return new-off-1 < added
}

// +checklocks:q.mu
func (q *Queue) enableNotifyPacked() bool {
	var v uint32 // ENABLE
	if q.eventIdx {
		off := q.lastAvail
		if q.availWrap {
			off |= 1 << 15
		}
		v = uint32(off) | virtio.PackedEventDesc<<16
	}
	atomic.StoreUint32(word(q.usedB, 0), v)
	return isAvail(uint16(atomic.LoadUint32(word(q.descB, int(q.lastAvail)*16+12))>>16), q.availWrap)
}
