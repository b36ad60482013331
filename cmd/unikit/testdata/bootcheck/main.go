//go:build linux

// Command bootcheck is the appliance the unikit tests boot. As PID 1 it mounts /proc, prints
// its arguments as the guest runtime reads them from the kernel command line and the kernel's
// uptime, loads uio_pci_generic with its dependencies from the initramfs's modules as the
// guest runtime does, prints a marker, and powers the machine off, so QEMU exits by itself.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/unikit/unikit/guest"
	"github.com/unikit/unikit/guest/kmod"
)

// marker ends a successful check; the tests look for it on the console.
const marker = "UNIKIT-BOOTCHECK-OK"

func main() {
	if err := check(); err != nil {
		fmt.Println("bootcheck: FAIL:", err)
	} else {
		fmt.Println(marker)
	}
	syscall.Sync()
	err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	// PID 1 must not return: the kernel would panic.
	fmt.Println("bootcheck: power off failed:", err)
	select {}
}

func check() error {
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return err
	}
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	fmt.Printf("bootcheck: pid=%d args=%q\n", os.Getpid(), os.Args[1:])
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		fmt.Printf("bootcheck: uptime=%s\n", strings.Fields(string(up))[0])
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	args, err := guest.CmdlineArgs(string(cmdline))
	if err != nil {
		return err
	}
	fmt.Printf("bootcheck: args=%q\n", args)
	ix, err := kmod.Scan(kmod.DefaultDir)
	if err != nil {
		return err
	}
	order, err := ix.Order("uio_pci_generic")
	if err != nil {
		return err
	}
	if err := ix.Load("uio_pci_generic"); err != nil {
		return err
	}
	for _, m := range order {
		fmt.Printf("bootcheck: loaded %s.ko\n", m.Name)
	}
	return nil
}
