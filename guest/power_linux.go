package guest

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// powerOff flushes the file systems and powers the machine off (ACPI on x86, PSCI on arm64);
// reboot(2) does not sync by itself. If the kernel refuses, it logs and blocks for ever:
// process 1 must not exit.
func powerOff(log *slog.Logger) {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	log.Error("guest: power-off failed; halting here", "err", err)
	select {}
}

// trapCtrlAltDel makes the kernel send SIGINT to process 1 on Ctrl-Alt-Del instead of
// rebooting at once, so that the appliance is stopped cleanly.
func trapCtrlAltDel() error { return unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) }
