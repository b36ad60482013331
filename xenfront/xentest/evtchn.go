package xentest

import (
	"context"
	"fmt"

	"github.com/unikit/unikit/xenfront"
)

// port is one end of an event channel.
type port struct {
	remote  xenfront.DomID
	peer    *port
	pending chan struct{} // capacity 1: a latched, coalescing pending bit
	closed  chan struct{}
}

// eventChannels are a domain's event channels.
type eventChannels struct{ d *Domain }

// newPort allocates the domain's next port number for a channel to remote. The caller holds
// h.mu.
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

// get returns the domain's port n, or nil.
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
