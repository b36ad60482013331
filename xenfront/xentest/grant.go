package xentest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/unikit/unikit/xenfront"
)

// Errors of the simulated hypervisor, as Xen's GNTST_* and -EINVAL results.
var (
	// ErrPermission is GNTST_permission_denied: the grant does not allow this domain or this
	// kind of access (writing through a read-only grant).
	ErrPermission = errors.New("xentest: grant permission denied")
	// ErrBadCopy is GNTST_bad_copy_arg: an offset or length outside the granted page.
	ErrBadCopy = errors.New("xentest: grant copy out of the page")
)

// grant is a grant_entry_v1 plus the page it points at.
type grant struct {
	grantee  xenfront.DomID
	readOnly bool
	page     []byte
	reading  int // mappings and copies reading (GTF_reading)
	writing  int // writable mappings and copies writing (GTF_writing)
}

// grantTable is a domain's grant table.
type grantTable struct{ d *Domain }

// Grant implements xenfront.GrantTable.
func (g grantTable) Grant(dom xenfront.DomID, readOnly bool) (xenfront.GrantRef, []byte, error) {
	h := g.d.h
	page := make([]byte, xenfront.PageSize)
	h.mu.Lock()
	defer h.mu.Unlock()
	tbl := h.grants[g.d.id]
	for len(tbl) < xenfront.NrReservedGrants {
		tbl = append(tbl, nil)
	}
	e := &grant{grantee: dom, readOnly: readOnly, page: page}
	for i := xenfront.NrReservedGrants; i < len(tbl); i++ {
		if tbl[i] == nil {
			tbl[i] = e
			return xenfront.GrantRef(i), page, nil
		}
	}
	h.grants[g.d.id] = append(tbl, e)
	return xenfront.GrantRef(len(tbl)), page, nil
}

// InUse implements xenfront.GrantTable.
func (g grantTable) InUse(ref xenfront.GrantRef) bool {
	h := g.d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.lookup(g.d.id, ref)
	return e != nil && (e.reading > 0 || e.writing > 0)
}

// End implements xenfront.GrantTable: the revocation fails while the grantee maps the page.
func (g grantTable) End(ref xenfront.GrantRef) error {
	h := g.d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.lookup(g.d.id, ref)
	if e == nil {
		return xenfront.ErrBadGrant
	}
	if e.reading > 0 || e.writing > 0 {
		return xenfront.ErrGrantInUse
	}
	h.grants[g.d.id][ref] = nil
	return nil
}

// lookup returns dom's grant ref, or nil. The caller holds h.mu.
func (h *Hypervisor) lookup(dom xenfront.DomID, ref xenfront.GrantRef) *grant {
	tbl := h.grants[dom]
	if int64(ref) >= int64(len(tbl)) {
		return nil
	}
	return tbl[ref]
}

// Granted returns how many grants domain dom holds; tests use it to find leaks.
func (h *Hypervisor) Granted(dom xenfront.DomID) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.grants[dom] {
		if e != nil {
			n++
		}
	}
	return n
}

// checkGrant finds granter's grant ref for domain d and checks the access (GNTTABOP_map and
// GNTTABOP_copy's permission checks). The caller holds h.mu.
func (d *Domain) checkGrant(granter xenfront.DomID, ref xenfront.GrantRef, write bool) (*grant, error) {
	e := d.h.lookup(granter, ref)
	if e == nil {
		return nil, fmt.Errorf("%w: dom%d has no grant %d", ErrPermission, granter, ref)
	}
	if e.grantee != d.id {
		return nil, fmt.Errorf("%w: grant %d of dom%d is for dom%d, not dom%d", ErrPermission, ref, granter, e.grantee, d.id)
	}
	if write && e.readOnly {
		return nil, fmt.Errorf("%w: grant %d of dom%d is read-only", ErrPermission, ref, granter)
	}
	return e, nil
}

// Mapping is a grant mapped into a back end's address space (GNTTABOP_map_grant_ref).
type Mapping struct {
	// Page is the granted page. A read-only mapping must only be read.
	Page []byte

	d     *Domain
	e     *grant
	write bool
	once  sync.Once
}

// Map maps granter's grant ref into this domain, writable or read-only. While mapped, the
// granter cannot end the grant.
func (d *Domain) Map(granter xenfront.DomID, ref xenfront.GrantRef, writable bool) (*Mapping, error) {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	e, err := d.checkGrant(granter, ref, writable)
	if err != nil {
		return nil, err
	}
	if writable {
		e.writing++
	} else {
		e.reading++
	}
	return &Mapping{Page: e.page, d: d, e: e, write: writable}, nil
}

// Unmap undoes Map (GNTTABOP_unmap_grant_ref). It is idempotent.
func (m *Mapping) Unmap() {
	m.once.Do(func() {
		m.d.h.mu.Lock()
		defer m.d.h.mu.Unlock()
		if m.write {
			m.e.writing--
		} else {
			m.e.reading--
		}
	})
}

// CopyFrom copies len(dst) bytes at offset off of granter's grant ref into dst
// (GNTTABOP_copy with a grant reference as source). It does not allocate.
func (d *Domain) CopyFrom(granter xenfront.DomID, ref xenfront.GrantRef, off int, dst []byte) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	b, err := d.copyRange(granter, ref, off, len(dst), false)
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// CopyTo copies src to offset off of granter's grant ref, which must be writable
// (GNTTABOP_copy with a grant reference as destination). It does not allocate.
func (d *Domain) CopyTo(granter xenfront.DomID, ref xenfront.GrantRef, off int, src []byte) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	b, err := d.copyRange(granter, ref, off, len(src), true)
	if err != nil {
		return err
	}
	copy(b, src)
	return nil
}

// copyRange checks a grant copy of n bytes at offset off of granter's grant ref, to it
// (write) or from it, and returns those bytes of the page. The caller holds h.mu.
func (d *Domain) copyRange(granter xenfront.DomID, ref xenfront.GrantRef, off, n int, write bool) ([]byte, error) {
	e, err := d.checkGrant(granter, ref, write)
	if err != nil {
		return nil, err
	}
	if off < 0 || off+n > xenfront.PageSize {
		return nil, ErrBadCopy
	}
	return e.page[off : off+n], nil
}
