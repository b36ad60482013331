//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/unikit/unikit/xenfront"
)

// GrantTable is xenfront.GrantTable on /dev/xen/gntalloc. Grant allocates one page with
// IOCTL_GNTALLOC_ALLOC_GREF (the kernel allocates a zeroed page and writes the grant entry)
// and maps it with mmap at the returned index; End unmaps it and releases it with
// IOCTL_GNTALLOC_DEALLOC_GREF.
//
// # Grants still in use
//
// Linux does not tell user space whether the grantee still has a page mapped: the grant
// entry's GTF_reading/GTF_writing bits are visible only to the kernel. InUse therefore always
// reports false, and End returns nil once the page is unmapped from this process and
// deallocated. This is still safe in the sense of XSA-396: after DEALLOC_GREF the kernel ends
// the grant only if the grantee has no mapping (gnttab_query_foreign_access); otherwise it keeps
// the page, never reuses or frees it, and retires it on a later gntalloc operation once the
// grantee lets go. What a GrantTable on gntalloc cannot do is notice that a back end keeps a
// page mapped while the page stays granted (netfront then reuses it for later frames), which
// the hypercall-based table reports through InUse.
//
// The kernel limits the pages all gntalloc users may hold (module parameter "limit", 1024 by
// default, in /sys/module/xen_gntalloc/parameters/limit); one netfront queue needs about 514.
type GrantTable struct {
	dev     device
	pageLen int // bytes mapped per grant: the kernel's page size, at least xenfront.PageSize

	mu     sync.Mutex
	grants map[xenfront.GrantRef]grant
	closed bool
}

type grant struct {
	index uint64 // mmap offset, for DEALLOC_GREF
	mem   []byte // the whole mapping
}

var _ xenfront.GrantTable = (*GrantTable)(nil)

// OpenGrantTable opens /dev/xen/gntalloc.
func OpenGrantTable() (*GrantTable, error) {
	d, err := openDevice("/dev/xen/gntalloc")
	if err != nil {
		return nil, err
	}
	return newGrantTable(d, os.Getpagesize()), nil
}

func newGrantTable(d device, pageSize int) *GrantTable {
	return &GrantTable{dev: d, pageLen: max(pageSize, xenfront.PageSize),
		grants: map[xenfront.GrantRef]grant{}}
}

// Grant implements xenfront.GrantTable: it allocates a zeroed page, grants dom access to it
// and maps it into this process. On a kernel with pages larger than 4 KiB the grant covers the
// first Xen page of the kernel page, which is the slice returned.
func (g *GrantTable) Grant(dom xenfront.DomID, readOnly bool) (xenfront.GrantRef, []byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, nil, xenfront.ErrClosed
	}
	a := allocGref{Domid: uint16(dom), Count: 1}
	if !readOnly {
		a.Flags = gntallocFlagWritable
	}
	if _, err := g.dev.Ioctl(ioctlGntallocAllocGref, unsafe.Pointer(&a)); err != nil {
		return 0, nil, fmt.Errorf("linuxdom: IOCTL_GNTALLOC_ALLOC_GREF: %w", err)
	}
	ref := xenfront.GrantRef(a.GrefID)
	if ref < xenfront.NrReservedGrants || a.Index > 1<<62 || g.grants[ref].mem != nil {
		_ = g.dealloc(a.Index)
		return 0, nil, fmt.Errorf("linuxdom: gntalloc returned grant %d at index %#x: %w", ref, a.Index, xenfront.ErrBadGrant)
	}
	mem, err := g.dev.Mmap(int64(a.Index), g.pageLen)
	if err == nil && len(mem) < xenfront.PageSize {
		_ = g.dev.Munmap(mem)
		err = fmt.Errorf("mapping of %d bytes", len(mem))
	}
	if err != nil {
		_ = g.dealloc(a.Index)
		return 0, nil, fmt.Errorf("linuxdom: mmap grant %d: %w", ref, err)
	}
	page := mem[:xenfront.PageSize:xenfront.PageSize]
	clear(page) // the kernel zeroes it (__GFP_ZERO); the contract is worth one more memclr
	g.grants[ref] = grant{index: a.Index, mem: mem}
	return ref, page, nil
}

func (g *GrantTable) dealloc(index uint64) error {
	d := deallocGref{Index: index, Count: 1}
	if _, err := g.dev.Ioctl(ioctlGntallocDeallocGref, unsafe.Pointer(&d)); err != nil {
		return fmt.Errorf("linuxdom: IOCTL_GNTALLOC_DEALLOC_GREF: %w", err)
	}
	return nil
}

// InUse implements xenfront.GrantTable. Linux cannot tell, so it reports false; see the type's
// documentation.
func (g *GrantTable) InUse(ref xenfront.GrantRef) bool { return false }

// End implements xenfront.GrantTable: it unmaps the page from this process and deallocates the
// grant. If the grantee still maps the page, the kernel keeps it (never reused) until it is
// unmapped there; End cannot see this and returns nil.
func (g *GrantTable) End(ref xenfront.GrantRef) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.grants[ref]
	if !ok {
		return xenfront.ErrBadGrant
	}
	if err := g.dev.Munmap(gr.mem); err != nil {
		return fmt.Errorf("linuxdom: munmap grant %d: %w", ref, err)
	}
	delete(g.grants, ref)
	return g.dealloc(gr.index)
}

// Granted returns how many grants are live (granted and not ended).
func (g *GrantTable) Granted() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.grants)
}

// Close unmaps every page still granted and closes the device, which releases all its grants
// in the kernel (pages the grantee still maps are kept until it unmaps them). It is idempotent.
func (g *GrantTable) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	var first error
	for ref, gr := range g.grants {
		if err := g.dev.Munmap(gr.mem); err != nil && first == nil {
			first = fmt.Errorf("linuxdom: munmap grant %d: %w", ref, err)
		}
		delete(g.grants, ref)
	}
	if err := g.dev.Close(); err != nil && first == nil {
		first = err
	}
	return first
}
