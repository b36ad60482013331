package virtiopci

import (
	"fmt"

	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/virtio"
)

// PCI device IDs of virtio-net functions (VIRTIO 1.2 section 4.1.2).
const (
	// DeviceTransitional is a transitional virtio-net function: legacy and modern interfaces,
	// subsystem device ID 1. QEMU presents this unless disable-legacy=on or the device sits
	// behind a PCI Express port.
	DeviceTransitional = 0x1000
	// DeviceModern is a modern-only virtio-net function (0x1040 + device type 1).
	DeviceModern = 0x1041
)

// classNetwork is the PCI base class of network controllers.
const classNetwork = 0x02

// IsNet reports whether f is a virtio-net function: vendor 0x1af4, device 0x1041, or 0x1000
// with subsystem device 1, and a network controller class.
func IsNet(f pci.Function) bool {
	if f.Vendor != virtio.PCIVendorID || f.Class>>16 != classNetwork {
		return false
	}
	return f.Device == DeviceModern || (f.Device == DeviceTransitional && f.SubsystemDevice == virtio.DeviceNet)
}

// FindNet returns the virtio-net functions under sysRoot, in sysfs order.
func FindNet(sysRoot string) ([]pci.Function, error) {
	fns, err := pci.Functions(sysRoot)
	if err != nil {
		return nil, fmt.Errorf("virtiopci: listing PCI functions: %w", err)
	}
	var nets []pci.Function
	for _, f := range fns {
		if IsNet(f) {
			nets = append(nets, f)
		}
	}
	return nets, nil
}
