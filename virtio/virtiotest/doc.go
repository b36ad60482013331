// Package virtiotest is an in-process model of VIRTIO 1.2 devices: the device side of split
// and packed virtqueues over the same memory as the driver (a virtio.Arena), the virtio-mmio
// register map and the virtio-pci modern capabilities and BAR, and a virtio-net device whose
// "wire" is any link.Link. It lets the virtio package's drivers run and be tested without a
// hypervisor, and lets an application put the virtio-net driver in front of any link
// ([NewLoopbackDevice]).
//
// The model can misbehave on purpose, as a malicious or broken device would: [Queue] can
// publish used entries with ids out of range or repeated, lengths beyond the posted buffers
// and used indexes that jump or move backwards; [Device] can change its configuration while
// the driver reads it and set DEVICE_NEEDS_RESET.
//
// The device side validates what the driver wrote as strictly as the driver validates the
// device: a bad descriptor chain makes the model set DEVICE_NEEDS_RESET, never panic.
package virtiotest
