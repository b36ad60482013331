package virtio

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
	cfg := &SplitConfig{EventIdx: features&FeatureEventIdx != 0}
	if features&FeatureIndirectDesc != 0 {
		cfg.Indirect = indirect
	}
	if features&FeatureRingPacked != 0 {
		return NewPackedQueue(mem, size, cfg)
	}
	return NewSplitQueue(mem, size, cfg)
}
