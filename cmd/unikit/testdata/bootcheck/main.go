//go:build linux

// Command bootcheck is the appliance the unikit tests boot. As PID 1 it mounts /proc, prints
// the arguments the kernel passed it and the kernel's uptime, loads the initramfs's kernel
// modules in their load order, prints a marker, and powers the machine off, so QEMU exits by
// itself.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// marker ends a successful check; the tests look for it on the console.
const marker = "UNIKIT-BOOTCHECK-OK"

// modulesDir and loadOrder are where the image keeps the modules (vmimage.ModulesDir).
const (
	modulesDir = "/lib/modules/unikit"
	loadOrder  = modulesDir + "/load-order"
)

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
	f, err := os.Open(loadOrder)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if err := load(filepath.Join(modulesDir, name)); err != nil {
			return fmt.Errorf("loading %s: %w", name, err)
		}
		fmt.Printf("bootcheck: loaded %s\n", name)
	}
	return sc.Err()
}

// load loads one kernel module with finit_module(2).
func load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if err == unix.EEXIST {
		return nil
	}
	return err
}
