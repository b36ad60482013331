// Package virtio is a driver for VIRTIO 1.2 devices ("Virtual I/O Device (VIRTIO) Version 1.2",
// OASIS Committee Specification 01) written in Go, for unikernel runtimes and for in-process
// use against the device model in package virtiotest.
//
// The package has four layers:
//
//   - Memory the device can reach: [DMA] pairs a byte slice with the address the device uses
//     for it, and a [Memory] hands such regions out. [Arena] is one contiguous region with
//     addresses base+offset; a unikernel runtime implements Memory over its physical pages.
//   - Virtqueues, driver side ([Virtqueue]): [SplitQueue] (spec section 2.7) and [PackedQueue]
//     (section 2.8, VIRTIO_F_RING_PACKED), with indirect descriptors and VIRTIO_F_EVENT_IDX
//     notification suppression. Everything the driver writes into shared
//     memory is shadowed privately and never read back; everything the device writes is
//     validated once, copied into locals, and a device that breaks the rules moves the queue
//     to a failed state ([ErrDeviceBroken]) instead of making the driver panic or touch memory
//     outside its buffers.
//   - Transports: a [Transport] is the device status, feature bits, configuration space,
//     queue setup and notification of one device. [NewMMIO] drives the virtio-mmio register
//     map (section 4.2) and [NewPCI] the virtio-pci modern capabilities (section 4.1), both
//     over the small [Registers] interface, so a runtime plugs in its MMIO or PCI access by
//     implementing three methods per width. [Negotiate] runs the initialisation sequence of
//     section 3.1.1. [DialVhostUser] (Linux) is the same driver as a vhost-user frontend: rings
//     and buffers in a memfd shared with the backend, kicks and interrupts over eventfds,
//     protocol features where the backend offers them (REPLY_ACK, so that a backend that
//     refuses part of the set-up fails it; MQ; NET_MTU), and reconnection to a restarted
//     backend.
//   - Devices: [NewNet] is a virtio-net driver (section 5.1) that implements link.Link,
//     with checksum offload, TSO/GRO, merged receive buffers, link status, the MTU and, where
//     offered, the control queue and multiqueue negotiation (one queue pair is used).
//
// # Plugging in a runtime
//
// A unikernel runtime provides Registers for the device's MMIO window (or, for PCI, for the
// function's configuration space and a function that maps a BAR), a Memory whose addresses are
// what the device sees (physical or IOMMU addresses), and calls the driver's interrupt entry
// point ([Net.Interrupt]) from its interrupt handler:
//
//	regs := myruntime.MMIOWindow(0x0a000000, 0x200) // implements virtio.Registers
//	t, err := virtio.NewMMIO(regs)
//	nic, err := virtio.NewNet(t, myruntime.DMAMemory(), nil)
//	myruntime.OnIRQ(16, nic.Interrupt)
//	s.AddNIC(nic, nil)
//
// # Memory ordering
//
// Ring indices are accessed with sync/atomic 32-bit operations on the naturally aligned word
// that holds them; Go's atomics are sequentially consistent, which gives the write barrier
// before publishing an index, the read barrier after reading one, and the full barrier
// between publishing and reading the other side's event index that section 2.7.13 asks for.
// Descriptors, ring entries and buffers are plain memory accesses ordered by those atomics.
// This is sufficient for a device running concurrently in another goroutine, thread or
// process sharing the memory.
package virtio
