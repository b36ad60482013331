package virtio

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// DMA is memory the device can access: a byte slice paired with the address the device uses
// for its first byte (a guest-physical, bus or IOMMU address; in process, an [Arena] address).
type DMA struct {
	Buf  []byte
	Addr uint64
}

// Slice returns the part of d from off to off+n, with its device address.
func (d DMA) Slice(off, n int) DMA {
	return DMA{Buf: d.Buf[off : off+n : off+n], Addr: d.Addr + uint64(off)}
}

// Memory hands out zeroed device-visible memory. Regions are never freed individually: a
// driver allocates its rings and buffers once, when it starts. Allocations are aligned to
// align bytes (a power of two) in both the slice and the device address; the slice's first
// byte is at least 8-byte aligned in the Go address space, so ring indices inside it can be
// accessed atomically.
type Memory interface {
	Alloc(size, align int) (DMA, error)
}

// ErrNoMemory is returned by [Arena.Alloc] when the arena is exhausted.
var ErrNoMemory = errors.New("virtio: out of DMA memory")

// Arena is a [Memory] over one contiguous region whose device address is base+offset, with a
// bump allocator. A device model that shares the region translates addresses back to bytes
// with [Arena.Slice]. It is safe for concurrent use.
type Arena struct {
	buf  []byte
	base uint64

	mu   sync.Mutex
	next int // +checklocks:mu
}

// NewArena returns an arena of size bytes (rounded up to 8) at device address base, backed by
// Go heap memory. Go's collector does not move heap objects, so the memory stays put.
func NewArena(size int, base uint64) *Arena {
	words := make([]uint64, (size+7)/8)
	return NewArenaOver(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8), base)
}

// NewArenaOver returns an arena over buf, for example a shared memory mapping, at device
// address base. buf's first byte must be 8-byte aligned.
func NewArenaOver(buf []byte, base uint64) *Arena {
	return &Arena{buf: buf, base: base}
}

// Base returns the device address of the arena's first byte.
func (a *Arena) Base() uint64 { return a.base }

// Bytes returns the whole region.
func (a *Arena) Bytes() []byte { return a.buf }

// Alloc implements [Memory].
func (a *Arena) Alloc(size, align int) (DMA, error) {
	if size < 0 || align <= 0 || align&(align-1) != 0 {
		return DMA{}, fmt.Errorf("virtio: bad allocation size %d align %d", size, align)
	}
	align = max(align, 8)
	a.mu.Lock()
	defer a.mu.Unlock()
	off := a.next
	if r := (a.base + uint64(off)) & uint64(align-1); r != 0 {
		off += align - int(r)
	}
	if off > len(a.buf) || size > len(a.buf)-off {
		return DMA{}, fmt.Errorf("%w: %d bytes wanted, %d left", ErrNoMemory, size, len(a.buf)-a.next)
	}
	a.next = off + size
	return DMA{Buf: a.buf[off : off+size : off+size], Addr: a.base + uint64(off)}, nil
}

// Slice returns the n bytes at device address addr, or false if any of them is outside the
// arena. It never panics, whatever addr and n are.
func (a *Arena) Slice(addr uint64, n uint32) ([]byte, bool) {
	if addr < a.base {
		return nil, false
	}
	off := addr - a.base
	if off > uint64(len(a.buf)) || uint64(n) > uint64(len(a.buf))-off {
		return nil, false
	}
	return a.buf[off : off+uint64(n) : off+uint64(n)], true
}
