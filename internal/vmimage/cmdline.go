package vmimage

import (
	"errors"
	"fmt"

	"github.com/unikit/unikit/guest"
)

// MaxCmdline is the longest kernel command line accepted, in bytes: COMMAND_LINE_SIZE less its
// terminating NUL on x86 and arm64 (both 2048 in Linux 6.1).
const MaxCmdline = 2047

// ErrApplianceArg is returned for appliance arguments the kernel command line cannot carry.
var ErrApplianceArg = errors.New("vmimage: appliance arguments do not fit on the kernel command line")

// KernelCmdline returns the kernel command line that boots an appliance with the given flags:
// the architecture's serial console, panic=-1 (a panic reboots at once, which QEMU's -no-reboot
// turns into an exit), quiet, on amd64 no_timer_check (under a slow or loaded emulator the
// kernel's IO-APIC timer check can fail and panic: "IO-APIC + timer doesn't work"), then the
// appliance's flags as one parameter written by guest.EncodeArgs, which the guest runtime
// reads back from /proc/cmdline.
func KernelCmdline(arch Arch, applianceArgs []string) (string, error) {
	line := "console=" + arch.Console() + " panic=-1 quiet"
	if arch == AMD64 {
		line += " no_timer_check"
	}
	if enc := guest.EncodeArgs(applianceArgs); enc != "" {
		line += " " + enc
	}
	if len(line) > MaxCmdline {
		return "", fmt.Errorf("%w: the command line would be %d bytes, more than the kernel's %d",
			ErrApplianceArg, len(line), MaxCmdline)
	}
	return line, nil
}
