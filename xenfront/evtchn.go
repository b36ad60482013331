package xenfront

import (
	"context"
	"errors"
)

// Port is an event channel port (evtchn_port_t, event_channel.h).
type Port uint32

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

// ErrPortClosed is returned by EventChannels.Wait and Notify on a closed or unknown port.
var ErrPortClosed = errors.New("xenfront: event channel closed")
