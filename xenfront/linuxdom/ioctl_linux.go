//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

// The _IOC macro of asm-generic/ioctl.h, used by x86, Arm and Arm64:
// _IOC(dir, type, nr, size) = dir<<30 | size<<16 | type<<8 | nr, with _IOC_NONE = 0.
const (
	iocNrBits    = 8
	iocTypeBits  = 8
	iocSizeBits  = 14
	iocNrShift   = 0
	iocTypeShift = iocNrShift + iocNrBits
	iocSizeShift = iocTypeShift + iocTypeBits
	iocDirShift  = iocSizeShift + iocSizeBits
	iocNone      = 0
)

// include/uapi/xen/gntalloc.h.
const (
	// allocGrefCSize is sizeof(struct ioctl_gntalloc_alloc_gref): u16 domid, u16 flags,
	// u32 count, u64 index, u32 gref_ids[1], padded to the u64's alignment.
	allocGrefCSize = (2 + 2 + 4 + 8 + 4 + cU64Align - 1) &^ (cU64Align - 1)
	// deallocGrefCSize is sizeof(struct ioctl_gntalloc_dealloc_gref): u64 index, u32 count.
	deallocGrefCSize = (8 + 4 + cU64Align - 1) &^ (cU64Align - 1)

	gntallocFlagWritable = 1 // GNTALLOC_FLAG_WRITABLE
)

// Ioctl numbers of /dev/xen/gntalloc: _IOC(_IOC_NONE, 'G', nr, sizeof(struct ...)).
const (
	ioctlGntallocAllocGref   = iocNone<<iocDirShift | allocGrefCSize<<iocSizeShift | 'G'<<iocTypeShift | 5<<iocNrShift
	ioctlGntallocDeallocGref = iocNone<<iocDirShift | deallocGrefCSize<<iocSizeShift | 'G'<<iocTypeShift | 6<<iocNrShift
)

// allocGref is struct ioctl_gntalloc_alloc_gref with room for one grant reference. The
// explicit tail padding makes the Go struct at least as large as the C one on every ABI, since
// the kernel copies sizeof(struct) bytes in and out.
type allocGref struct {
	Domid  uint16 // IN: the domain given access
	Flags  uint16 // IN: GNTALLOC_FLAG_WRITABLE or 0
	Count  uint32 // IN: number of pages; always 1 here
	Index  uint64 // OUT: mmap offset of the pages
	GrefID uint32 // OUT: gref_ids[0]
	_      uint32
}

// deallocGref is struct ioctl_gntalloc_dealloc_gref.
type deallocGref struct {
	Index uint64 // the offset ALLOC_GREF returned
	Count uint32 // pages to release
	_     uint32
}

// include/uapi/xen/evtchn.h: every structure is made of C unsigned ints (4 bytes).
const (
	ioctlEvtchnBindInterdomain = iocNone<<iocDirShift | 8<<iocSizeShift | 'E'<<iocTypeShift | 1<<iocNrShift
	ioctlEvtchnBindUnboundPort = iocNone<<iocDirShift | 4<<iocSizeShift | 'E'<<iocTypeShift | 2<<iocNrShift
	ioctlEvtchnUnbind          = iocNone<<iocDirShift | 4<<iocSizeShift | 'E'<<iocTypeShift | 3<<iocNrShift
	ioctlEvtchnNotify          = iocNone<<iocDirShift | 4<<iocSizeShift | 'E'<<iocTypeShift | 4<<iocNrShift
	ioctlEvtchnReset           = iocNone<<iocDirShift | 0<<iocSizeShift | 'E'<<iocTypeShift | 5<<iocNrShift
)

// bindInterdomain is struct ioctl_evtchn_bind_interdomain.
type bindInterdomain struct {
	RemoteDomain uint32
	RemotePort   uint32
}

// evtchnPortArg is struct ioctl_evtchn_bind_unbound_port {remote_domain}, struct
// ioctl_evtchn_unbind {port} and struct ioctl_evtchn_notify {port}: one unsigned int.
type evtchnPortArg struct {
	V uint32
}
