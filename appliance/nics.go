package appliance

import (
	"fmt"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/virtio/virtiotest"
	"github.com/unikit/unikit/xenfront/xentest"
)

// driverLink puts the named NIC driver, against its in-process device model, in front of
// backend (the user-mode network's link): the stack then talks to the driver exactly as it
// would on a hypervisor, and the device model carries the frames to backend. The returned
// link owns backend.
func driverLink(driver string, backend link.Link) (link.Link, error) {
	switch driver {
	case "virtio":
		// The virtio-net driver over split virtqueues against the in-process device model.
		return virtiotest.NewLoopbackDevice(backend)
	case "xen":
		// netfront over a simulated hypervisor and netback: grant tables, event channels,
		// xenstore handshake and shared rings.
		return xentest.NewLoopback(backend)
	}
	return nil, fmt.Errorf("%w: unknown driver %q", ErrBadFlag, driver)
}
