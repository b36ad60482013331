package guest

import (
	"os"
	"strings"
)

// EnvHypervisor is the environment variable the init sets for the appliance it starts when
// it found itself in a domain of a hypervisor it knows by name: "xen" in a Xen domain.
const EnvHypervisor = "UNIKIT_HYPERVISOR"

// HypervisorXen is the value of [EnvHypervisor] in a Xen domain.
const HypervisorXen = "xen"

// hypervisorTypeFile is where Linux names the hypervisor it runs on: "xen" in a Xen domain
// (drivers/xen/sys-hypervisor.c, CONFIG_XEN_SYS_HYPERVISOR, which Debian builds in on x86
// and arm64). KVM and TCG guests have no such file.
const hypervisorTypeFile = "/sys/hypervisor/type"

// XenModules are the modules the init loads in a Xen domain, besides [DefaultModules], for
// -net xen (xenfront/linuxdom): the grant allocator, event channel and privcmd devices, and
// xenfs, which the init mounts on /proc/xen. Linux's own network front end, xen-netfront, is
// left out on purpose: loaded, it would bind the domain's vifs before our netfront can.
func XenModules() []string {
	return []string{"xen-privcmd", "xenfs", "xen-evtchn", "xen-gntalloc"}
}

// InXen reports whether this process is an appliance started by [Main] as the init of a Xen
// domain: the case in which -net xen is the default network.
func InXen() bool { return InGuest() && os.Getenv(EnvHypervisor) == HypervisorXen }

// hypervisorType returns the hypervisor named in the file at path (hypervisorTypeFile), or ""
// when there is none.
func hypervisorType(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
