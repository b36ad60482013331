package xenfront

import (
	"context"
	"errors"
	"strconv"
)

// PageSize is the size of a Xen page (XEN_PAGE_SIZE): grants, shared rings and the xenstore
// ring are always 4 KiB, whatever the guest's own page size.
const PageSize = 4096

// DomID is a Xen domain identifier (domid_t).
type DomID uint16

// DomIDSelf is DOMID_SELF (xen.h), naming the calling domain in hypercalls.
const DomIDSelf DomID = 0x7FF0

// GrantRef is a grant reference (grant_ref_t, grant_table.h): an index into the granting
// domain's grant table.
type GrantRef uint32

// NrReservedGrants is GNTTAB_NR_RESERVED_ENTRIES: references below it belong to the toolstack
// (0 the console, 1 the xenstore ring); allocators hand out references from here up.
const NrReservedGrants = 8

// Port is an event channel port (evtchn_port_t, event_channel.h).
type Port uint32

// TxID is a xenstore transaction id; 0 means no transaction.
type TxID uint32

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

// EventChannels are this domain's event channels (event_channel.h). Events are edge-like and
// coalesce: many notifications may be seen as one by Wait, so a waiter processes all pending
// work after each wake-up.
type EventChannels interface {
	// AllocUnbound allocates a port that domain remote may bind to (EVTCHNOP_alloc_unbound).
	AllocUnbound(remote DomID) (Port, error)

	// BindInterdomain connects a new local port to port remotePort of domain remote, which
	// remote allocated for us with AllocUnbound (EVTCHNOP_bind_interdomain).
	BindInterdomain(remote DomID, remotePort Port) (Port, error)

	// Notify raises an event on the other end of port (EVTCHNOP_send).
	Notify(port Port) error

	// Wait blocks until an event is pending on port, clears it and returns nil; or returns
	// ctx's error, or ErrPortClosed once the port is closed.
	Wait(ctx context.Context, port Port) error

	// Close closes port (EVTCHNOP_close); a Wait on it returns ErrPortClosed.
	Close(port Port) error
}

// Store is a xenstore connection (xs_wire.h, docs/misc/xenstore.txt). Paths not starting with
// '/' are relative to /local/domain/<own domid>.
type Store interface {
	// Read returns the value at path; ErrNotFound if it does not exist.
	Read(tx TxID, path string) (string, error)
	// Write sets path to value, creating missing parents.
	Write(tx TxID, path, value string) error
	// Remove deletes path and everything below it.
	Remove(tx TxID, path string) error
	// Directory lists the names of path's children.
	Directory(tx TxID, path string) ([]string, error)
	// Start begins a transaction.
	Start() (TxID, error)
	// End commits (commit true) or aborts a transaction. A commit that conflicts with another
	// change returns ErrAgain: the caller redoes the whole transaction.
	End(tx TxID, commit bool) error
	// Watch reports changes at or below path. As in xenstored, one event fires right away.
	Watch(path string) (*Watch, error)
}

// Watch delivers the paths of xenstore changes. Events are hints: a watcher re-reads the state
// it cares about after each one. When the watcher is slow, events are coalesced (dropped while
// C already holds unread events), never queued without bound.
type Watch struct {
	// C receives the path that changed.
	C <-chan string

	stop func()
}

// NewWatch returns a Watch delivering on c whose Close calls stop once. It is for Store
// implementations.
func NewWatch(c <-chan string, stop func()) *Watch { return &Watch{C: c, stop: stop} }

// Close removes the watch. It is idempotent.
func (w *Watch) Close() error {
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	return nil
}

// XenbusState is the value of a split device's "state" key (io/xenbus.h).
type XenbusState int

// XenbusState values (io/xenbus.h).
const (
	StateUnknown       XenbusState = 0
	StateInitialising  XenbusState = 1
	StateInitWait      XenbusState = 2
	StateInitialised   XenbusState = 3
	StateConnected     XenbusState = 4
	StateClosing       XenbusState = 5
	StateClosed        XenbusState = 6
	StateReconfiguring XenbusState = 7
	StateReconfigured  XenbusState = 8
)

var stateNames = [...]string{"Unknown", "Initialising", "InitWait", "Initialised", "Connected",
	"Closing", "Closed", "Reconfiguring", "Reconfigured"}

// String returns the state's name in io/xenbus.h.
func (s XenbusState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "XenbusState(" + strconv.Itoa(int(s)) + ")"
}

// ParseState parses a state key's value strictly (a decimal 0..8); anything else is
// StateUnknown with an error.
func ParseState(v string) (XenbusState, error) {
	n, err := ParseUint(v, 8)
	if err != nil {
		return StateUnknown, err
	}
	return XenbusState(n), nil
}

// ParseUint parses a xenstore number strictly: decimal digits only, at most max. Values from
// another domain are untrusted strings.
func ParseUint(v string, max uint64) (uint64, error) {
	if v == "" || len(v) > 20 {
		return 0, ErrBadValue
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, ErrBadValue
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max {
		return 0, ErrBadValue
	}
	return n, nil
}

// Errors of the xenfront interfaces.
var (
	// ErrGrantInUse is returned by GrantTable.End when the grantee still has the page mapped.
	ErrGrantInUse = errors.New("xenfront: grant still in use by the remote domain")
	// ErrBadGrant is returned for a grant reference that is not granted.
	ErrBadGrant = errors.New("xenfront: bad grant reference")
	// ErrPortClosed is returned by EventChannels.Wait and Notify on a closed or unknown port.
	ErrPortClosed = errors.New("xenfront: event channel closed")
	// ErrNotFound is xenstore's ENOENT.
	ErrNotFound = StoreError("ENOENT")
	// ErrAgain is xenstore's EAGAIN: a transaction conflicted and must be redone.
	ErrAgain = StoreError("EAGAIN")
	// ErrClosed is returned after a connection was closed.
	ErrClosed = errors.New("xenfront: closed")
	// ErrBadValue is returned for a malformed xenstore value.
	ErrBadValue = errors.New("xenfront: malformed xenstore value")
	// ErrProtocol is returned for a malformed xenstore message.
	ErrProtocol = errors.New("xenfront: xenstore protocol error")
)

// StoreError is an error xenstored returned (an XS_ERROR message): an errno name such as
// "ENOENT", "EACCES", "EAGAIN" or "EINVAL".
type StoreError string

// Error implements error.
func (e StoreError) Error() string { return "xenstore: " + string(e) }
