// Package kernelnet hands a VM's network interface to Linux's own stack and configures it, for
// an appliance that serves through kernel sockets inside a guest (-net kernel) rather than
// through its userspace stack and virtio driver: the comparison the appliance's own path is
// measured against.
//
// [Up] does what a distribution's early network set-up would do, with no program but the
// appliance: it loads virtio_pci and virtio_net from the initramfs (package kmod; the image
// builder puts them there when the appliance's flags say -net kernel), brings the loopback
// and the first Ethernet interface up through rtnetlink, leases an address with the DHCP
// client of github.com/insomniacslk/dhcp over a packet socket, installs the address, the
// default route and the lease's DNS servers (/etc/resolv.conf, which Go's resolver reads),
// and renews the lease in the background until [Interface.Close].
package kernelnet
