package dma

import (
	"errors"
	"fmt"
	"sync"

	"github.com/unikit/unikit/virtio"
)

// HugePageSize is the size of the pages Memory allocates from.
const HugePageSize = 2 << 20

// ErrNoMemory is returned by [Memory.Alloc] when no run of physically contiguous memory can
// hold an allocation and no more may be mapped.
var ErrNoMemory = errors.New("dma: out of DMA memory")

// run is memory that is contiguous both virtually and physically: one huge page or several
// adjacent ones.
type run struct {
	buf  []byte
	addr uint64 // physical address of buf[0]
	next int    // bump pointer
}

// source maps more huge pages: a batch of the given number, returned as runs.
type source interface {
	grow(pages int) ([]run, error)
	close() error
}

// Memory is a [virtio.Memory] over huge pages: a bump allocator per run of physically
// contiguous pages, which maps more pages when no run can hold an allocation, up to a limit.
// Memory is never freed before [Memory.Close]. It is safe for concurrent use.
type Memory struct {
	limit int

	mu     sync.Mutex
	src    source // +checklocks:mu
	runs   []run  // +checklocks:mu
	mapped int    // +checklocks:mu
	closed bool   // +checklocks:mu
}

var _ virtio.Memory = (*Memory)(nil)

// Alloc implements [virtio.Memory]: size zeroed bytes aligned to align (a power of two, at
// least 8) in both the slice and the physical address, within one run. Of the runs with room it
// takes the fullest, so that large runs stay free for large allocations.
func (m *Memory) Alloc(size, align int) (virtio.DMA, error) {
	if size < 0 || align <= 0 || align&(align-1) != 0 {
		return virtio.DMA{}, fmt.Errorf("dma: bad allocation size %d align %d", size, align)
	}
	align = max(align, 8)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return virtio.DMA{}, errors.New("dma: memory closed")
	}
	// A new batch holds the allocation if its pages come out physically adjacent. Each batch
	// after one that did not is twice as large, up to the limit, since the more pages the
	// kernel hands out at once the likelier some of them are adjacent; the pages of a batch
	// that could not hold the allocation still serve smaller ones.
	// A batch starts on a huge page boundary, so only alignments above that need padding.
	need := (max(size, 1) + max(align-HugePageSize, 0) + HugePageSize - 1) / HugePageSize
	batch := 0 // pages
	for {
		if d, ok := m.allocRun(size, align); ok {
			return d, nil
		}
		batch = min(max(2*batch, need), (m.limit-m.mapped)/HugePageSize)
		if m.src == nil || batch < need {
			return virtio.DMA{}, fmt.Errorf("%w: %d bytes wanted, %d of %d mapped in %d runs",
				ErrNoMemory, size, m.mapped, m.limit, len(m.runs))
		}
		runs, err := m.src.grow(batch)
		if err != nil {
			return virtio.DMA{}, err
		}
		for _, r := range runs {
			m.mapped += len(r.buf)
		}
		m.runs = append(m.runs, runs...)
	}
}

// allocRun carves the allocation out of the best-fitting run.
// +checklocks:m.mu
func (m *Memory) allocRun(size, align int) (virtio.DMA, bool) {
	best, bestOff, bestLeft := -1, 0, 0
	for i := range m.runs {
		r := &m.runs[i]
		off := r.next
		if rem := (r.addr + uint64(off)) & uint64(align-1); rem != 0 {
			off += align - int(rem)
		}
		if off > len(r.buf) || size > len(r.buf)-off {
			continue
		}
		if (uintptrOf(r.buf)+uintptr(off))&uintptr(align-1) != 0 {
			continue // only for alignments above the huge page size
		}
		if left := len(r.buf) - off - size; best < 0 || left < bestLeft {
			best, bestOff, bestLeft = i, off, left
		}
	}
	if best < 0 {
		return virtio.DMA{}, false
	}
	r := &m.runs[best]
	r.next = bestOff + size
	b := r.buf[bestOff : bestOff+size : bestOff+size]
	clear(b)
	return virtio.DMA{Buf: b, Addr: r.addr + uint64(bestOff)}, true
}

// splitRuns cuts mem, whose huge pages have the physical addresses addrs in ascending order,
// into runs of physically adjacent pages.
func splitRuns(mem []byte, addrs []uint64) []run {
	var runs []run
	start := 0
	for i := 1; i <= len(addrs); i++ {
		if i == len(addrs) || addrs[i] != addrs[i-1]+HugePageSize {
			runs = append(runs, run{buf: mem[start*HugePageSize : i*HugePageSize : i*HugePageSize], addr: addrs[start]})
			start = i
		}
	}
	return runs
}

// Mapped returns the number of bytes of huge pages mapped so far.
func (m *Memory) Mapped() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mapped
}

// Close unmaps the memory. The device must no longer use it: reset the device (close the
// driver) first. Regions handed out must not be touched afterwards. Close is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.runs = nil
	if m.src == nil {
		return nil
	}
	return m.src.close()
}
