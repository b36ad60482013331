//go:build !linux

package virtio

import (
	"fmt"
	"net"
	"runtime"
	"time"
)

// VhostUserConfig configures [DialVhostUser]. The zero value means the defaults.
type VhostUserConfig struct {
	// Net configures the driver; nil means the defaults.
	Net *NetConfig
	// MAC is the MAC the device reports; nil means a random locally administered address.
	MAC net.HardwareAddr
	// MTU is the MTU the device reports; zero means 1500.
	MTU int
	// MemorySize is the size of the shared memory; zero means 8 MiB.
	MemorySize int
	// Timeout bounds the connection and every reply; zero means 5 seconds.
	Timeout time.Duration
}

// VhostUser is the virtio-net driver as a vhost-user frontend (Linux only).
type VhostUser struct {
	*Net
}

// Reconnects returns how many times the frontend reconnected to a restarted backend.
func (v *VhostUser) Reconnects() int64 { return 0 }

// DialVhostUser is not implemented on this OS: vhost-user needs memfd and eventfd.
func DialVhostUser(path string, cfg *VhostUserConfig) (*VhostUser, error) {
	return nil, fmt.Errorf("%w: vhost-user is not implemented on %s", ErrUnsupported, runtime.GOOS)
}
