// Package xenlab runs our Xen netfront against Linux's real xen-netback: Xen 4.17 with a
// Debian arm64 dom0 under qemu-system-aarch64 (TCG, no KVM needed), and a domU, created by
// dom0's xl, whose /init is a unikit appliance (the domu command beside this package) on the
// guest runtime, which makes -net xen its default network there.
//
// [Fetch] downloads Debian's arm64 packages of Xen, its tools and their libraries, busybox
// and bash with apt-get download (cached between runs) and unpacks them with dpkg-deb -x;
// the kernel, which boots as both dom0 and the domU, is vmimage's cached Debian kernel.
// [Build] writes the two initramfs images: the domU's with vmimage.WriteInitramfs, and
// dom0's with the Xen tools, xenstored, netback and the bridge, Debian's vif-bridge script
// and dom0's /init (dom0-init.sh, a busybox sh script, the peer's side of the test). [Lab.Boot]
// runs QEMU once, with a host-side timeout that kills it, and returns the console's lines:
// dom0's init prints its verdicts as lines starting with "XENLAB ", the domU's program as
// lines starting with "XENLAB-DOMU ".
//
// The route is the one of the Xen project's own CI (Xen on Arm under QEMU), with QEMU's
// guest-loader instead of u-boot.
package xenlab
