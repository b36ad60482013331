package dma

import (
	"errors"
	"fmt"
)

// ErrNoPhysAddr is returned when pagemap does not give a page's physical address: the page is
// not present, is swapped, or the reader lacks CAP_SYS_ADMIN (the kernel then reports frame
// number 0).
var ErrNoPhysAddr = errors.New("dma: no physical address in pagemap")

// PagemapEntry is one 64-bit entry of /proc/PID/pagemap, which has one per virtual page at
// offset (va / pagesize) * 8 (Linux Documentation/admin-guide/mm/pagemap.rst).
type PagemapEntry uint64

const (
	pagemapPresent = 1 << 63
	pagemapSwapped = 1 << 62
	pagemapPFNMask = 1<<55 - 1 // bits 0-54
)

// Present reports whether the page is in memory (bit 63).
func (e PagemapEntry) Present() bool { return e&pagemapPresent != 0 }

// Swapped reports whether the page is swapped out (bit 62).
func (e PagemapEntry) Swapped() bool { return e&pagemapSwapped != 0 }

// PFN returns the page frame number of a present page (bits 0-54), 0 otherwise or when the
// reader may not see it.
func (e PagemapEntry) PFN() uint64 {
	if !e.Present() || e.Swapped() {
		return 0
	}
	return uint64(e) & pagemapPFNMask
}

// PhysAddr returns the physical address of virtual address va given the pagemap entry of its
// page and the page size: PFN * pageSize + va % pageSize. A page without a frame number is an
// error wrapping [ErrNoPhysAddr].
func PhysAddr(e PagemapEntry, va uintptr, pageSize int) (uint64, error) {
	pfn := e.PFN()
	switch {
	case !e.Present():
		return 0, fmt.Errorf("%w: page at %#x not present", ErrNoPhysAddr, va)
	case e.Swapped():
		return 0, fmt.Errorf("%w: page at %#x swapped out", ErrNoPhysAddr, va)
	case pfn == 0:
		return 0, fmt.Errorf("%w: frame number hidden (needs CAP_SYS_ADMIN)", ErrNoPhysAddr)
	}
	return pfn*uint64(pageSize) + uint64(va%uintptr(pageSize)), nil
}
