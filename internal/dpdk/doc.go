// Package dpdk runs DPDK's testpmd in tests as a real vhost-user backend: a net_vhost port
// the virtio driver connects to as a frontend, optionally bridged to a net_tap port so that
// frames reach the Linux kernel inside a network namespace the test made. testpmd runs
// without hugepages or PCI devices; a missing dpdk-testpmd skips the test (or fails it under
// UNIKIT_PEERS=require).
package dpdk
