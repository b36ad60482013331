//go:build !linux

package vmrun

import "github.com/unikit/unikit/internal/vmimage"

// KVMUsable reports whether QEMU can use KVM for a guest of arch: never, off Linux.
func KVMUsable(vmimage.Arch) bool { return false }
