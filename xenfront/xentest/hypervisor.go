package xentest

import (
	"sync"

	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// Hypervisor simulates the parts of Xen a split driver uses: per-domain grant tables that
// enforce what each grant allows, interdomain event channels and a xenstore. It is safe for
// concurrent use; each Domain is one guest's view of it.
type Hypervisor struct {
	xsd *Xenstored

	mu      sync.Mutex
	grants  map[xenfront.DomID][]*grant // index: grant reference
	ports   map[xenfront.DomID]map[xenfront.Port]*port
	portSeq map[xenfront.DomID]xenfront.Port
}

// New returns a hypervisor with an empty xenstore.
func New() *Hypervisor {
	return &Hypervisor{
		xsd:     newXenstored(),
		grants:  map[xenfront.DomID][]*grant{},
		ports:   map[xenfront.DomID]map[xenfront.Port]*port{},
		portSeq: map[xenfront.DomID]xenfront.Port{},
	}
}

// Xenstored returns the hypervisor's simulated xenstored.
func (h *Hypervisor) Xenstored() *Xenstored { return h.xsd }

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
func (d *Domain) Store() xenstore.Store { return &storeView{s: d.h.xsd, dom: d.id} }
