// Package dma gives a user-space driver memory a device can reach by DMA, with the
// guest-physical address of every byte, for a driver without an IOMMU (uio): 2 MiB hugetlbfs
// pages, locked, their addresses read from /proc/self/pagemap. [Memory] implements
// virtio.Memory over them.
//
// Why huge pages: a 2 MiB huge page is one physically contiguous block, so a ring or a buffer
// inside it has one physical address range and needs one descriptor; 4 KiB pages would need a
// translation per page and descriptors split at page boundaries. The Go heap is never used for
// DMA: it is not physically contiguous and the collector may reuse it while the device writes.
//
// An allocation never crosses from one page into another unless the two are physically
// adjacent. When more pages are needed they are mapped in one batch and then remapped in the
// order of their physical addresses (as DPDK's legacy memory mode does), so that pages the
// kernel happened to hand out adjacent, in whatever order, become one virtually contiguous run
// that can hold an allocation larger than a page, such as the driver's receive buffers with
// TSO.
//
// The physical addresses are assumed not to change: the pages are locked, which stops
// swapping, and a small VM without memory hot-unplug does not migrate huge pages (DPDK takes the
// same risk). Reading physical addresses from pagemap needs CAP_SYS_ADMIN; without it the
// kernel reports zeros, which [OpenHugepages] refuses.
package dma
