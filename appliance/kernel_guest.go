package appliance

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/unikit/unikit/guest/kernelnet"
)

// openGuestKernel opens -net kernel inside a VM ([guest.InGuest]): Linux's own virtio-net
// driver and stack instead of ours, for comparison. It loads the driver, leases an address for
// the kernel's interface by DHCP (package guest/kernelnet) and listens on each served port on
// every address of the guest, where the hypervisor's port forwards arrive; -listen, which names
// host addresses, plays no part.
func (n *Network) openGuestKernel(ctx context.Context) error {
	iface, err := kernelnet.Up(ctx, &kernelnet.Config{Logger: n.log})
	if err != nil {
		return fmt.Errorf("appliance: -net kernel: %w", err)
	}
	n.kernIf = iface
	addr := iface.Lease().Addr.Addr()
	n.kernLn = make(map[uint16]net.Listener, len(n.ports))
	for i, port := range n.ports {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return err
		}
		n.kernLn[port] = ln
		n.addrs[i] = netip.AddrPortFrom(addr, port)
	}
	return nil
}
