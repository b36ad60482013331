// Package pci gives a user-space driver a PCI function through Linux sysfs and uio, the way
// DPDK's uio_pci_generic path does, for an appliance that runs as a VM's init (package guest)
// and drives its NIC itself.
//
// The pieces, each its own file:
//
//   - [Functions] lists the functions under /sys/bus/pci/devices with their IDs, class and
//     bound driver; [ParseAddr] reads a "DDDD:BB:DD.F" address.
//   - [Bind] hands a function to a driver through driver_override and drivers_probe,
//     unbinding whatever held it.
//   - [Open] returns a [Device]: its configuration space as registers ([Config], through the
//     sysfs "config" file, including the command register's bus-master and INTx-disable
//     bits) and its memory BARs mapped from the sysfs "resourceN" files ([Window]).
//   - [OpenUIO] opens the function's /dev/uioN, whose 4-byte reads block until the device
//     interrupts (INTx; uio_pci_generic then masks INTx until the driver unmasks it).
//
// Every function takes the sysfs root ("/sys" in a guest) as a parameter so that tests run
// against a fake tree in a temporary directory.
//
// # Distrust
//
// The device, and therefore what sysfs reports about it, is untrusted: a hypervisor may
// present any configuration space. Resource lines are parsed strictly; a BAR is mapped only if
// it is a memory BAR, enabled, of a power-of-two size between 16 bytes and [MaxBARSize], and
// its resourceN file is exactly that long ([Resource.Check]); register accesses outside a
// window or not naturally aligned read as all ones and write nothing, as a PCI master abort
// would, instead of touching memory beyond the mapping.
//
// # Register access
//
// A [Window] reads and writes device registers with single loads and stores of exactly the
// width asked for, in assembly on amd64 and arm64: the Go compiler may neither merge, split,
// elide nor reorder them, which plain pointer accesses would not guarantee and which a device
// register needs (reading the virtio ISR byte clears it; a 32-bit access to a 16-bit doorbell
// is a different register access). On arm64 a store is preceded and a load followed by the
// barriers Linux's writel and readl use (dmb oshst, dmb oshld), so that ring updates in normal
// memory are visible to the device before a doorbell and reads of the rings are not hoisted
// above the register read that announced them. On amd64 uncached MMIO is strongly ordered
// and Go's atomic stores of ring indices are full fences, so no extra barrier is needed.
package pci
