package main

import (
	"testing"

	"github.com/unikit/unikit/internal/vmimage"
)

// TestServeHelloUEFI boots examples/hello's disk.img through OVMF, with no -kernel: the
// firmware finds the unified kernel image on the EFI system partition, as a KVM cloud's would,
// and the appliance serves through the port forward.
func TestServeHelloUEFI(t *testing.T) {
	testServe(t, serveTarget{arch: vmimage.AMD64, uefi: true, nic: "0000:00:03.0"},
		"github.com/unikit/unikit/examples/hello", "/", helloPage)
}

// TestServeHelloARM64 boots examples/hello for arm64 under qemu-system-aarch64 -M virt (TCG),
// where the NIC sits at 00:01.0 behind the host bridge, and fetches its page through the port
// forward.
func TestServeHelloARM64(t *testing.T) {
	testServe(t, serveTarget{arch: vmimage.ARM64, nic: "0000:00:01.0"},
		"github.com/unikit/unikit/examples/hello", "/", helloPage)
}
