//go:build !linux || !(386 || amd64 || arm || arm64)

package linuxdom

import (
	"context"

	"github.com/unikit/unikit/xenfront"
)

// GrantTable is xenfront.GrantTable on /dev/xen/gntalloc; on this platform it cannot be opened.
type GrantTable struct{}

// OpenGrantTable returns ErrUnsupported on this platform.
func OpenGrantTable() (*GrantTable, error) { return nil, ErrUnsupported }

// Grant implements xenfront.GrantTable.
func (g *GrantTable) Grant(xenfront.DomID, bool) (xenfront.GrantRef, []byte, error) {
	return 0, nil, ErrUnsupported
}

// InUse implements xenfront.GrantTable.
func (g *GrantTable) InUse(xenfront.GrantRef) bool { return false }

// End implements xenfront.GrantTable.
func (g *GrantTable) End(xenfront.GrantRef) error { return xenfront.ErrBadGrant }

// Granted returns how many grants are live.
func (g *GrantTable) Granted() int { return 0 }

// Close is idempotent.
func (g *GrantTable) Close() error { return nil }

// EventChannels is xenfront.EventChannels on /dev/xen/evtchn; on this platform it cannot be
// opened.
type EventChannels struct{}

// OpenEventChannels returns ErrUnsupported on this platform.
func OpenEventChannels() (*EventChannels, error) { return nil, ErrUnsupported }

// AllocUnbound implements xenfront.EventChannels.
func (e *EventChannels) AllocUnbound(xenfront.DomID) (xenfront.Port, error) {
	return 0, ErrUnsupported
}

// BindInterdomain implements xenfront.EventChannels.
func (e *EventChannels) BindInterdomain(xenfront.DomID, xenfront.Port) (xenfront.Port, error) {
	return 0, ErrUnsupported
}

// Notify implements xenfront.EventChannels.
func (e *EventChannels) Notify(xenfront.Port) error { return xenfront.ErrPortClosed }

// Wait implements xenfront.EventChannels.
func (e *EventChannels) Wait(context.Context, xenfront.Port) error { return xenfront.ErrPortClosed }

// Close implements xenfront.EventChannels.
func (e *EventChannels) Close(xenfront.Port) error { return xenfront.ErrPortClosed }

// CloseAll is idempotent.
func (e *EventChannels) CloseAll() error { return nil }

// OpenStore returns ErrUnsupported on this platform.
func OpenStore() (*Store, error) { return nil, ErrUnsupported }
