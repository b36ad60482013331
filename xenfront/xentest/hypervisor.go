package xentest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// Errors of the simulated hypervisor, as Xen's GNTST_* and -EINVAL results.
var (
	// ErrPermission is GNTST_permission_denied: the grant does not allow this domain or this
	// kind of access (writing through a read-only grant).
	ErrPermission = errors.New("xentest: grant permission denied")
	// ErrBadCopy is GNTST_bad_copy_arg: an offset or length outside the granted page.
	ErrBadCopy = errors.New("xentest: grant copy out of the page")
)

// Hypervisor simulates the parts of Xen a split driver uses: per-domain grant tables that
// enforce what each grant allows, interdomain event channels and a xenstore. It is safe for
// concurrent use; each Domain is one guest's view of it.
type Hypervisor struct {
	store *Store

	mu      sync.Mutex
	grants  map[xenfront.DomID][]*grant // index: grant reference
	ports   map[xenfront.DomID]map[xenfront.Port]*port
	portSeq map[xenfront.DomID]xenfront.Port
}

// grant is a grant_entry_v1 plus the page it points at.
type grant struct {
	grantee  xenfront.DomID
	readOnly bool
	page     []byte
	reading  int // mappings and copies reading (GTF_reading)
	writing  int // writable mappings and copies writing (GTF_writing)
}

// port is one end of an event channel.
type port struct {
	remote  xenfront.DomID
	peer    *port
	pending chan struct{} // capacity 1: a latched, coalescing pending bit
	closed  chan struct{}
}

// New returns a hypervisor with an empty xenstore.
func New() *Hypervisor {
	return &Hypervisor{
		store:   newStore(),
		grants:  map[xenfront.DomID][]*grant{},
		ports:   map[xenfront.DomID]map[xenfront.Port]*port{},
		portSeq: map[xenfront.DomID]xenfront.Port{},
	}
}

// Store returns the hypervisor's xenstore.
func (h *Hypervisor) Store() *Store { return h.store }

// Domain returns domain id's view of the hypervisor.
func (h *Hypervisor) Domain(id xenfront.DomID) *Domain { return &Domain{h: h, id: id} }

// Domain is one guest's handle on the hypervisor: its grant table, its event channels, its
// xenstore connection, and the grant operations a back end performs on other domains' grants.
type Domain struct {
	h  *Hypervisor
	id xenfront.DomID
}

// ID returns the domain's id.
func (d *Domain) ID() xenfront.DomID { return d.id }

// GrantTable returns the domain's grant table.
func (d *Domain) GrantTable() xenfront.GrantTable { return grantTable{d} }

// EventChannels returns the domain's event channels.
func (d *Domain) EventChannels() xenfront.EventChannels { return eventChannels{d} }

// Store returns the domain's direct connection to the xenstore: relative paths resolve
// below /local/domain/<id>.
func (d *Domain) Store() xenstore.Store { return &storeView{s: d.h.store, dom: d.id} }

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
	e, err := d.checkGrant(granter, ref, false)
	if err != nil {
		return err
	}
	if off < 0 || off+len(dst) > xenfront.PageSize {
		return ErrBadCopy
	}
	copy(dst, e.page[off:])
	return nil
}

// CopyTo copies src to offset off of granter's grant ref, which must be writable
// (GNTTABOP_copy with a grant reference as destination). It does not allocate.
func (d *Domain) CopyTo(granter xenfront.DomID, ref xenfront.GrantRef, off int, src []byte) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	e, err := d.checkGrant(granter, ref, true)
	if err != nil {
		return err
	}
	if off < 0 || off+len(src) > xenfront.PageSize {
		return ErrBadCopy
	}
	copy(e.page[off:], src)
	return nil
}

type eventChannels struct{ d *Domain }

func (e eventChannels) newPort(remote xenfront.DomID) (xenfront.Port, *port) {
	h := e.d.h
	m := h.ports[e.d.id]
	if m == nil {
		m = map[xenfront.Port]*port{}
		h.ports[e.d.id] = m
	}
	h.portSeq[e.d.id]++
	n := h.portSeq[e.d.id]
	p := &port{remote: remote, pending: make(chan struct{}, 1), closed: make(chan struct{})}
	m[n] = p
	return n, p
}

// AllocUnbound implements xenfront.EventChannels.
func (e eventChannels) AllocUnbound(remote xenfront.DomID) (xenfront.Port, error) {
	e.d.h.mu.Lock()
	defer e.d.h.mu.Unlock()
	n, _ := e.newPort(remote)
	return n, nil
}

// BindInterdomain implements xenfront.EventChannels.
func (e eventChannels) BindInterdomain(remote xenfront.DomID, remotePort xenfront.Port) (xenfront.Port, error) {
	h := e.d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	rp := h.ports[remote][remotePort]
	if rp == nil || rp.peer != nil || rp.remote != e.d.id {
		return 0, fmt.Errorf("xentest: dom%d port %d is not an unbound port for dom%d", remote, remotePort, e.d.id)
	}
	n, p := e.newPort(remote)
	p.peer, rp.peer = rp, p
	return n, nil
}

func (e eventChannels) get(n xenfront.Port) *port {
	e.d.h.mu.Lock()
	defer e.d.h.mu.Unlock()
	return e.d.h.ports[e.d.id][n]
}

// Notify implements xenfront.EventChannels. Notifying an unbound port does nothing.
func (e eventChannels) Notify(n xenfront.Port) error {
	e.d.h.mu.Lock()
	p := e.d.h.ports[e.d.id][n]
	var peer *port
	if p != nil {
		peer = p.peer
	}
	e.d.h.mu.Unlock()
	if p == nil {
		return xenfront.ErrPortClosed
	}
	if peer != nil {
		select {
		case peer.pending <- struct{}{}:
		default:
		}
	}
	return nil
}

// Wait implements xenfront.EventChannels.
func (e eventChannels) Wait(ctx context.Context, n xenfront.Port) error {
	p := e.get(n)
	if p == nil {
		return xenfront.ErrPortClosed
	}
	select {
	case <-p.pending:
		return nil
	case <-p.closed:
		return xenfront.ErrPortClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close implements xenfront.EventChannels.
func (e eventChannels) Close(n xenfront.Port) error {
	h := e.d.h
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.ports[e.d.id][n]
	if p == nil {
		return xenfront.ErrPortClosed
	}
	delete(h.ports[e.d.id], n)
	if p.peer != nil {
		p.peer.peer = nil
	}
	close(p.closed)
	return nil
}

// OpenPorts returns how many event channels domain dom has open; tests use it to find leaks.
func (h *Hypervisor) OpenPorts(dom xenfront.DomID) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ports[dom])
}
