package xenfront

import "errors"

// GrantRef is a grant reference (grant_ref_t, grant_table.h): an index into the granting
// domain's grant table.
type GrantRef uint32

// NrReservedGrants is GNTTAB_NR_RESERVED_ENTRIES: references below it belong to the toolstack
// (0 the console, 1 the xenstore ring); allocators hand out references from here up.
const NrReservedGrants = 8

// GrantTable shares pages of this domain's memory with another domain (grant_table.h, grant
// table version 1). Implementations: a unikernel's hypercall-based table, Linux's
// /dev/xen/gntalloc, and xentest's simulated hypervisor.
//
// Allocation and granting are one step because only the implementation knows how to get
// page-aligned memory whose frame number it can put into a grant entry.
type GrantTable interface {
	// Grant allocates a zeroed page of PageSize bytes and grants domain dom access to it,
	// read-only (GTF_readonly) or writable. The page belongs to the caller until End succeeds.
	Grant(dom DomID, readOnly bool) (GrantRef, []byte, error)

	// InUse reports whether the grantee currently has the page mapped or is copying to or
	// from it (GTF_reading or GTF_writing set in the grant entry).
	InUse(ref GrantRef) bool

	// End revokes the grant and confirms the grantee can no longer reach the page; the page
	// must not be used after End returns nil. If the grantee still has the page mapped, End
	// returns ErrGrantInUse and the page must never be reused or freed (XSA-396).
	End(ref GrantRef) error
}

// Errors of GrantTable.
var (
	// ErrGrantInUse is returned by GrantTable.End when the grantee still has the page mapped.
	ErrGrantInUse = errors.New("xenfront: grant still in use by the remote domain")
	// ErrBadGrant is returned for a grant reference that is not granted.
	ErrBadGrant = errors.New("xenfront: bad grant reference")
)
