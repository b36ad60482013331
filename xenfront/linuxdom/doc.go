// Package linuxdom implements xenfront's hypervisor interfaces for a program in a Linux Xen
// domain (domU or dom0), through the kernel's user-space devices:
//
//   - GrantTable (xenfront.GrantTable) on /dev/xen/gntalloc: IOCTL_GNTALLOC_ALLOC_GREF, mmap of
//     the page at the returned index, munmap and IOCTL_GNTALLOC_DEALLOC_GREF.
//   - EventChannels (xenfront.EventChannels) on /dev/xen/evtchn: IOCTL_EVTCHN_BIND_UNBOUND_PORT,
//     _BIND_INTERDOMAIN, _NOTIFY, _UNBIND; reading the device yields the 4-byte numbers of ports
//     that fired, writing them back unmasks them.
//   - OpenStore (xenstore.Store) on /dev/xen/xenbus: the xenstore wire protocol as a byte
//     stream, spoken by xenstore.Client on two open files, one for XS_WATCH and XS_UNWATCH
//     only, because the driver deadlocks when a watch request and another request are
//     outstanding on one file (see Store).
//
// The ioctl numbers are computed from the _IOC macro of asm-generic/ioctl.h and the structure
// sizes of include/uapi/xen/gntalloc.h and evtchn.h; the tests pin them. The package supports
// Linux on 386, amd64, arm and arm64; elsewhere every Open function returns ErrUnsupported.
//
// # Use in a Linux domain
//
// The devices come from the xen-gntalloc, xen-evtchn and xenfs (or xen-privcmd's xenbus)
// drivers and normally need root. A program drives a netfront against the domain's backend:
//
//	dom, err := linuxdom.Open() // or OpenGrantTable, OpenEventChannels, OpenStore one by one
//	if err != nil { ... }
//	defer dom.Close()
//	link, err := netfront.Open(ctx, &netfront.Config{Grants: dom.Grants, Events: dom.Events, Store: dom.Store})
//
// The toolstack must have created the vif's xenstore nodes (device/vif/N with its backend), as
// for a kernel netfront, and the kernel's own xen-netfront must not be bound to that device.
//
// Linux does not let user space see whether a grantee still maps a page, so GrantTable.InUse
// is always false; the kernel keeps such a page alive instead of reusing it (see GrantTable).
//
// # Testing
//
// This package is untested against a real Xen host in this repository: there is none here.
// Its tests run the code on models of the three drivers (the ioctl encodings are decoded at the
// C structures' byte offsets, mmap hands out pages, the event device masks, queues, overflows
// and unmasks ports as the kernel does), and the xenstore client over a socketpair served by
// xentest's simulated xenstore.
package linuxdom
