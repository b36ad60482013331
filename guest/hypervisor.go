package guest

import (
	"os"
	"strconv"
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

// XenGrantLimit is what the init raises xen-gntalloc's limit on the grants it hands out to
// (its "limit" parameter, 1024 by default): netfront grants 514 pages per queue pair (a ring
// and 256 buffers each way), so the default lets it have one queue and not two. 16384 is half
// of the 32768 entries of a domain's grant table under Xen's default max_grant_frames (64),
// leaving the other half to the kernel's own drivers.
const XenGrantLimit = 16384

// gntallocLimitFile is xen-gntalloc's limit parameter, writable by root at run time.
const gntallocLimitFile = "/sys/module/xen_gntalloc/parameters/limit"

// raiseGrantLimit raises xen-gntalloc's limit in the file at path (gntallocLimitFile) to
// XenGrantLimit, leaving a higher limit alone.
func raiseGrantLimit(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= XenGrantLimit {
		return nil
	}
	return os.WriteFile(path, []byte(strconv.Itoa(XenGrantLimit)), 0)
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
