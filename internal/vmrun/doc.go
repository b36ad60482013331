// Package vmrun boots an image that package vmimage built under QEMU, the way `unikit run`
// does: KVM when the host can run the guest with it, TCG otherwise; QEMU's user-mode network
// with a port forwarded from the host to port 80 of the guest, which takes 10.0.2.15, the first
// address QEMU's DHCP server leases; the NIC a virtio-net-pci device; the serial console on
// standard output; and -no-reboot, so the guest powering off (or panicking, with the image's
// panic=-1) ends QEMU.
//
// The kernel boots directly (-kernel, -initrd, -append) or, with Config.UEFI, through UEFI
// firmware from disk.img, as a KVM cloud would boot it: OVMF on x86 (Debian's ovmf package),
// AAVMF on arm64 (qemu-efi-aarch64).
//
// For tests, Config.TAP puts the NIC on a Linux TAP device instead of the user-mode network
// (the one peer with vnet headers, so the one the device offers offloads with), and
// Config.NICProperties sets the device's properties (packed=on, mq=on, ...).
package vmrun
