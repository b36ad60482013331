package virtio

import (
	"fmt"
	"time"
)

// VhostUser is the virtio-net driver as a vhost-user frontend: the rings and packet buffers
// live in a memfd shared with the backend (identity-mapped: device addresses are the
// frontend's virtual addresses), kicks and interrupts travel over eventfds. It implements
// link.Link through the embedded driver.
type VhostUser struct {
	*Net
	t *vhostUserTransport
}

// DialVhostUser connects to the vhost-user backend listening on the UNIX socket path (for
// example DPDK's net_vhost, QEMU's vhost-user-net backends or a vhost-user switch), sets up a
// virtio-net device over it and returns the driver.
func DialVhostUser(path string, cfg *VhostUserConfig) (*VhostUser, error) {
	var c VhostUserConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MemorySize == 0 {
		c.MemorySize = 16 << 20
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	t, err := newVhostUserTransport(path, &c)
	if err != nil {
		return nil, err
	}
	n, err := NewNet(t, t.arena, c.Net)
	if err != nil {
		t.close()
		if t.setupErr != nil {
			err = fmt.Errorf("%w: %w", err, t.setupErr)
		}
		return nil, err
	}
	// From now on the transport calls the driver back: interrupts, and where packed rings
	// resume after a reconnection.
	t.attach(n)
	return &VhostUser{Net: n, t: t}, nil
}

// ProtocolFeatures returns the vhost-user protocol features negotiated with the backend
// (VhostUserProtocol*), zero when the backend offers none.
func (v *VhostUser) ProtocolFeatures() uint64 { return v.t.protocolFeatures() }

// QueuePairs returns the number of queue pairs the backend reported (VhostUserProtocolMQ),
// zero when it did not say.
func (v *VhostUser) QueuePairs() int {
	v.t.msgMu.Lock()
	defer v.t.msgMu.Unlock()
	return v.t.queuePairs
}

// Reconnects returns how many times the frontend reconnected to a restarted backend.
func (v *VhostUser) Reconnects() int64 { return v.t.reconnects.Load() }

// Close stops the driver, stops the backend's rings and closes the connection. The shared
// memory is unmapped once every frame the driver lent has been released, so that frames lent
// before Close stay readable until their release. It is idempotent.
func (v *VhostUser) Close() error {
	err := v.Net.Close()
	v.t.shutdown()
	v.Net.afterLent(v.t.unmap)
	return err
}
