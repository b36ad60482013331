package xenfront

import "errors"

// PageSize is the size of a Xen page (XEN_PAGE_SIZE): grants, shared rings and the xenstore
// ring are always 4 KiB, whatever the guest's own page size.
const PageSize = 4096

// DomID is a Xen domain identifier (domid_t).
type DomID uint16

// DomIDSelf is DOMID_SELF (xen.h), naming the calling domain in hypercalls.
const DomIDSelf DomID = 0x7FF0

// ErrClosed is returned by an implementation of GrantTable or EventChannels used after it was
// closed.
var ErrClosed = errors.New("xenfront: closed")
