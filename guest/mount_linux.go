package guest

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mount is one file system the init mounts.
type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	// required mounts stop the boot when they fail; the others are logged.
	required bool
}

// initMounts returns the init's file systems, in order: devtmpfs replaces the initramfs's
// /dev, so hugetlbfs comes after it.
func initMounts() []mount {
	return []mount{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", true},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", true},
		// Debian's kernel does not mount devtmpfs by itself for an initramfs
		// (DEVTMPFS_MOUNT unset), but others do: EBUSY means it is there.
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", true},
		{"hugetlbfs", "/dev/hugepages", "hugetlbfs", unix.MS_NOSUID | unix.MS_NODEV, "pagesize=2M", false},
	}
}

// mountAll mounts the init's file systems, creating the mount points. It returns the first
// failure of a required mount and logs the others through warn.
func mountAll(warn func(msg string, args ...any)) error {
	for _, m := range initMounts() {
		err := os.MkdirAll(m.target, 0o755)
		if err == nil {
			err = unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
			if errors.Is(err, unix.EBUSY) {
				err = nil
			}
		}
		if err == nil {
			continue
		}
		err = fmt.Errorf("mounting %s on %s: %w", m.fstype, m.target, err)
		if m.required {
			return err
		}
		warn("guest: "+err.Error(), "fstype", m.fstype)
	}
	return nil
}

// mountXenfs mounts xenfs on /proc/xen, which the kernel creates in a Xen domain
// (CONFIG_XEN_COMPAT_XENFS): the place of the xenbus and privcmd files older tools expect.
// It needs the xenfs module loaded; already mounted is fine.
func mountXenfs() error {
	const target = "/proc/xen"
	err := os.MkdirAll(target, 0o555)
	if err == nil {
		err = unix.Mount("xenfs", target, "xenfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		if errors.Is(err, unix.EBUSY) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("mounting xenfs on %s: %w", target, err)
	}
	return nil
}
