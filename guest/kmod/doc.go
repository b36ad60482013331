// Package kmod loads Linux kernel modules from a directory, the way an init running from an
// initramfs needs it: without modules.dep, without depmod and without modprobe.
//
// Debian's kernel package ships no modules.dep (depmod builds it at install time), so the
// dependencies come from each module's own ELF ".modinfo" section, a list of NUL-terminated
// key=value strings that modpost writes: "name=uio_pci_generic", "depends=uio". [Scan] indexes
// every "*.ko" file under a directory by that name, [Index.Order] resolves a request into
// dependency order, and [Index.Load] (Linux) hands each file to finit_module(2).
//
// Module names are compared as the kernel compares them: '-' and '_' are the same character.
// Modules built into the kernel, listed in a "modules.builtin" file anywhere in the tree, are
// satisfied without loading anything. Compressed modules (".ko.xz", ".ko.zst", ".ko.gz") are
// not read: decompress them when the image is built (Debian's 6.1 kernels ship plain ".ko").
package kmod
