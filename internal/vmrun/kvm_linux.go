package vmrun

import (
	"bytes"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/unikit/unikit/internal/vmimage"
)

// kvmGetAPIVersion is the KVM_GET_API_VERSION ioctl, _IO(KVMIO, 0x00); a usable KVM answers
// kvmAPIVersion (include/uapi/linux/kvm.h).
const (
	kvmGetAPIVersion = 0xae00
	kvmAPIVersion    = 12
)

// KVMUsable reports whether QEMU can run a guest of arch on this host with KVM: the guest is
// of the host's own architecture, /dev/kvm opens for reading and writing and speaks the stable
// API, and, on x86, the CPU offers hardware virtualization (vmx or svm). The last check
// matters in nested set-ups whose /dev/kvm is a paravirtual flavour (such as PVM) that runs
// only specially built guest kernels: there QEMU starts but a stock kernel never boots.
func KVMUsable(arch vmimage.Arch) bool {
	if string(arch) != runtime.GOARCH {
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil || v != kvmAPIVersion {
		return false
	}
	if arch == vmimage.AMD64 {
		return cpuHasVirtualization()
	}
	return true
}

// cpuHasVirtualization reports whether /proc/cpuinfo's flags name Intel VT-x (vmx) or
// AMD-V (svm).
func cpuHasVirtualization() bool {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(info, []byte("\n")) {
		key, flags, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(bytes.TrimSpace(key)) != "flags" {
			continue
		}
		for _, f := range bytes.Fields(flags) {
			if string(f) == "vmx" || string(f) == "svm" {
				return true
			}
		}
		return false // every CPU lists the same flags
	}
	return false
}
