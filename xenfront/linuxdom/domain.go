package linuxdom

import "errors"

// Domain bundles the three interfaces of this Linux domain, ready for netfront.Config.
type Domain struct {
	Grants *GrantTable
	Events *EventChannels
	Store  *Store
}

// Open opens /dev/xen/gntalloc, /dev/xen/evtchn and /dev/xen/xenbus.
func Open() (*Domain, error) {
	g, err := OpenGrantTable()
	if err != nil {
		return nil, err
	}
	e, err := OpenEventChannels()
	if err != nil {
		g.Close()
		return nil, err
	}
	s, err := OpenStore()
	if err != nil {
		e.CloseAll()
		g.Close()
		return nil, err
	}
	return &Domain{Grants: g, Events: e, Store: s}, nil
}

// Close closes the store, the event channels and the grant table, in that order (close the
// driver using them first). It is idempotent.
func (d *Domain) Close() error {
	return errors.Join(d.Store.Close(), d.Events.CloseAll(), d.Grants.Close())
}
