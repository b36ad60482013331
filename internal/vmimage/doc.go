// Package vmimage builds what boots an appliance as a virtual machine: a Linux kernel, an
// initramfs holding the appliance as /init plus the kernel modules it loads at boot, the
// kernel command line, and a raw GPT disk whose EFI system partition holds a unified kernel
// image that UEFI firmware boots on its own.
//
// Linux is only the boot loader and PCI mapper here (see the guest package): the initramfs
// has no shell and no libc, only the static appliance and a few modules, so an image is a few
// megabytes. Without a kernel of its own, Build uses Debian's kernel package for the
// architecture, fetched with apt-get download and unpacked with dpkg-deb into a cache
// (FetchDebianKernel).
//
// The pieces are usable alone: ResolveModules reads module dependencies from each .ko's
// .modinfo section (Debian's package ships no modules.dep), WriteInitramfs writes a
// reproducible gzip'd newc archive, WriteUKI assembles systemd-stub's unified kernel image
// with objcopy, and WriteDisk writes the GPT disk with its FAT32 EFI system partition.
package vmimage
