//go:build !linux

package virtio

import (
	"fmt"
	"runtime"
)

// VhostUser is the virtio-net driver as a vhost-user frontend (Linux only).
type VhostUser struct {
	*Net
}

// Reconnects returns how many times the frontend reconnected to a restarted backend.
func (v *VhostUser) Reconnects() int64 { return 0 }

// ProtocolFeatures returns the vhost-user protocol features negotiated with the backend.
func (v *VhostUser) ProtocolFeatures() uint64 { return 0 }

// QueuePairs returns the number of queue pairs the backend reported.
func (v *VhostUser) QueuePairs() int { return 0 }

// DialVhostUser is not implemented on this OS: vhost-user needs memfd and eventfd.
func DialVhostUser(path string, cfg *VhostUserConfig) (*VhostUser, error) {
	return nil, fmt.Errorf("%w: vhost-user is not implemented on %s", ErrUnsupported, runtime.GOOS)
}
