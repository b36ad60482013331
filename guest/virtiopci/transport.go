package virtiopci

import (
	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/virtio"
)

// wrapFunc wraps the registers of a mapped BAR; tests use it to watch every access.
type wrapFunc func(bar int, r virtio.Registers, size uint64) virtio.Registers

// transport returns the virtio-pci modern transport of dev: virtio.NewPCI walks the vendor
// capabilities in its configuration space and maps the BARs they name through dev, each
// checked by pci.Resource.Check. wrap is nil except in tests.
func transport(dev *pci.Device, wrap wrapFunc) (*virtio.PCI, error) {
	return virtio.NewPCI(dev.Config(), func(i int) (virtio.Registers, uint64, error) {
		w, err := dev.BAR(i)
		if err != nil {
			return nil, 0, err
		}
		if wrap != nil {
			return wrap(i, w, w.Size()), w.Size(), nil
		}
		return w, w.Size(), nil
	})
}
