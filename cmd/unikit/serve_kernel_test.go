package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/vmimage"
)

// TestServeBlogKernelAMD64 boots examples/blog built with -net kernel under
// qemu-system-x86_64 (TCG): the same VM set-up as TestServeBlogAMD64, but the appliance hands
// the virtio-net-pci device to Linux's own virtio_net driver, which unikit image put in the
// initramfs because of the flag, leases 10.0.2.15 for the kernel's interface by DHCP
// (guest/kernelnet), and serves with kernel sockets. The host fetches a page through the port
// forward, and the power button stops the guest.
func TestServeBlogKernelAMD64(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a virtual machine under TCG")
	}
	peers.Program(t, "qemu-system-x86_64", "qemu-system-x86")
	requireImageTools(t, vmimage.AMD64)
	want, err := os.ReadFile("../../examples/blog/site/about/index.html")
	require.NoError(t, err)

	dir := buildImage(t, "github.com/unikit/unikit/examples/blog", "-net", "kernel")
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+30*time.Second)
	defer cancel()
	g, body, err := bootServing(ctx, t, dir, "", "/about/")
	require.NoError(t, err)
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s\nstderr:\n%s", g.console.String(), g.stderr.String())
		}
	}()
	require.Equal(t, string(want), body)
	out := g.console.String()
	require.Contains(t, out, "(-net kernel)", "the appliance names the network it serves on")
	require.Contains(t, out, "driver=virtio_net", "Linux's driver has the NIC")
	require.Contains(t, out, "addr=10.0.2.15/24", "the kernel's interface leased QEMU's first address")
	require.NotContains(t, out, "virtio-pci: driving NIC", "our driver stays out")
	t.Logf("QEMU start to the first 200: %v", g.firstOK.Round(time.Millisecond))

	require.NoError(t, g.powerOff(ctx), "QEMU exits 0 when the guest powers off")
	out = g.console.String()
	require.Contains(t, out, "reboot: Power down", "the guest powered itself off")
	require.NotContains(t, out, "Kernel panic")
}
