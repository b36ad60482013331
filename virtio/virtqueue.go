package virtio

import (
	"errors"
	"fmt"
	"unsafe"
)

// Descriptor layout common to split and packed rings (VIRTIO 1.2 sections 2.7.5 and 2.8.13),
// pinned by tests.
const (
	// DescSize is the size of a descriptor: struct virtq_desc (le64 addr, le32 len, le16
	// flags, le16 next) or struct pvirtq_desc (le64 addr, le32 len, le16 id, le16 flags).
	DescSize = 16

	// Descriptor flags.
	DescFNext     = 1 // VIRTQ_DESC_F_NEXT
	DescFWrite    = 2 // VIRTQ_DESC_F_WRITE
	DescFIndirect = 4 // VIRTQ_DESC_F_INDIRECT

	// MaxQueueSize is the largest queue size the specification allows.
	MaxQueueSize = 32768
)

// Virtqueue is the driver side of a virtqueue, split ([SplitQueue]) or packed
// ([PackedQueue]). Implementations are not safe for concurrent use.
type Virtqueue interface {
	// Size returns the number of descriptors.
	Size() int
	// NumFree returns the number of free descriptors.
	NumFree() int
	// Addrs returns the device addresses of the descriptor, driver and device areas.
	Addrs() (desc, driver, device uint64)
	// Err returns the error that broke the queue, or nil.
	Err() error
	// Add posts a chain of buffers with a token returned by Get when the device used it.
	// The device does not see it before the next KickPrepare.
	Add(bufs []Buffer, token uint64) (uint16, error)
	// KickPrepare makes the chains added since the last call available to the device, with
	// one fenced store for the batch, and reports whether the device wants a notification.
	KickPrepare() bool
	// Get returns the next used chain, validated.
	Get() (Used, bool, error)
	// DisableInterrupts asks the device not to interrupt.
	DisableInterrupts()
	// EnableInterrupts asks for an interrupt and reports whether used chains are pending.
	EnableInterrupts() bool
}

var (
	_ Virtqueue = (*SplitQueue)(nil)
	_ Virtqueue = (*PackedQueue)(nil)
)

// NewVirtqueue returns a packed queue if VIRTIO_F_RING_PACKED is in features and a split
// queue otherwise, with EVENT_IDX as negotiated and indirect tables of indirect entries if
// VIRTIO_F_INDIRECT_DESC was negotiated.
func NewVirtqueue(mem Memory, size int, features uint64, indirect int) (Virtqueue, error) {
	cfg := &QueueConfig{EventIdx: features&FeatureEventIdx != 0}
	if features&FeatureIndirectDesc != 0 {
		cfg.Indirect = indirect
	}
	if features&FeatureRingPacked != 0 {
		return NewPackedQueue(mem, size, cfg)
	}
	return NewSplitQueue(mem, size, cfg)
}

// QueueConfig configures a [SplitQueue] or a [PackedQueue]. The zero value is a queue without
// indirect descriptors or event indexes.
type QueueConfig struct {
	// EventIdx is set when VIRTIO_F_EVENT_IDX was negotiated.
	EventIdx bool
	// Indirect is the number of entries of each indirect descriptor table when
	// VIRTIO_F_INDIRECT_DESC was negotiated; zero disables indirect descriptors. Chains of
	// more than one buffer and at most Indirect buffers then take a single ring descriptor.
	Indirect int
}

// queueConfig checks a queue size (a power of two from 2 to [MaxQueueSize]) and the
// indirect table size of cfg, and returns cfg's values (zero for nil).
func queueConfig(size int, cfg *QueueConfig) (QueueConfig, error) {
	var c QueueConfig
	if size < 2 || size > MaxQueueSize || size&(size-1) != 0 {
		return c, fmt.Errorf("virtio: queue size %d is not a power of two in [2, %d]", size, MaxQueueSize)
	}
	if cfg != nil {
		c = *cfg
	}
	if c.Indirect < 0 || c.Indirect > size {
		return c, fmt.Errorf("virtio: indirect table size %d outside [0, %d]", c.Indirect, size)
	}
	return c, nil
}

// allocTables allocates one indirect table of indirect entries per descriptor, or nothing
// when indirect is 0.
func allocTables(mem Memory, size, indirect int) (DMA, error) {
	if indirect == 0 {
		return DMA{}, nil
	}
	return mem.Alloc(DescSize*indirect*size, 16)
}

// Buffer is one element of a scatter-gather list posted to a virtqueue.
type Buffer struct {
	Addr uint64 // device address
	Len  uint32
	// Write marks a device-writable buffer; device-readable buffers come first in a chain.
	Write bool
}

// Used is one completed chain.
type Used struct {
	Token uint64 // the token given to Add
	Head  uint16 // the chain's head descriptor
	// Len is the number of bytes the device wrote, validated against the chain's writable
	// length; zero for chains without writable buffers (whose used length is meaningless).
	Len uint32
}

// ErrDeviceBroken is wrapped by every error that reports a device breaking the protocol: the
// queue or driver that saw it stops using the device.
var ErrDeviceBroken = errors.New("virtio: device broke the protocol")

// ErrQueueFull is returned by a queue's Add when there are not enough free descriptors.
var ErrQueueFull = errors.New("virtio: virtqueue full")

// word returns the 32-bit word at off of b for atomic access; off is 4-aligned and b's
// first byte is 4-aligned (Memory guarantees 8).
func word(b []byte, off int) *uint32 {
	if off < 0 || off+4 > len(b) {
		panic("virtio: atomic word outside its area") // unreachable: areas are sized for it
	}
	return (*uint32)(unsafe.Pointer(unsafe.SliceData(b[off:])))
}

// needEvent is vring_need_event of section 2.7.10: whether moving an index from old to new
// crossed the other side's event index ev.
func needEvent(ev, new, old uint16) bool { return new-ev-1 < new-old }
