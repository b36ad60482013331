// Package virtiopci runs unikit's virtio-net driver (package virtio) on a real virtio-net PCI
// function from inside a Linux guest, as DPDK's virtio PMD does: the function is taken from
// the kernel through uio_pci_generic (package pci), its registers are its BARs mapped through
// sysfs, its DMA memory is huge pages with physical addresses (package dma), and its
// interrupts arrive through /dev/uioN or are polled for.
//
// [Open] does all of it and returns a [NIC], a link.Link:
//
//	nic, err := virtiopci.Open(nil) // the first virtio-net function, interrupts
//	s.AddNIC(nic, nil)
//
// # Interrupts or polling
//
// With interrupts (the default, [Config.Poll] zero) a goroutine blocks on /dev/uioN. Each
// time it returns, the goroutine calls the driver's interrupt handler ([virtio.Net.Interrupt]),
// which reads the ISR status byte (deasserting the level-triggered INTx line) and wakes the
// driver, and then unmasks INTx, which uio_pci_generic masked in the kernel's handler. The
// driver's virtqueues suppress interrupts they do not need (VIRTIO_F_EVENT_IDX). uio gives
// INTx only: uio_pci_generic leaves MSI-X off. On a hypervisor without INTx on virtio-pci
// (Cloud Hypervisor) use polling.
//
// With polling, INTx stays masked and a goroutine calls the interrupt handler every
// Config.Poll.
//
// # Distrust
//
// What sysfs says about the function is checked before anything is mapped (package pci), the
// capability walk and every register window are checked against the BAR sizes (virtio.NewPCI),
// and the driver validates everything the device writes into shared memory. The device is
// reset before bus mastering is enabled, so that a device a firmware left running cannot
// write into memory the driver has not given it.
package virtiopci
