//go:build !linux

package guest

// isKernelInit reports whether this process is a Linux VM's init: never on this OS.
func isKernelInit() bool { return false }

// runInit is not reached on this OS.
func runInit(Config) { panic("guest: runInit outside Linux") }
