package virtio

import "errors"

// Errors of a buffer chain handed to a queue's Add.
var (
	errEmptyChain = errors.New("virtio: empty buffer chain")
	errChainOrder = errors.New("virtio: device-readable buffer after a device-writable one")
)

// planChain checks a chain for Add, the same for split and packed queues: it must not be
// empty, and device-readable buffers come before device-writable ones. It returns the bytes
// the device may write, whether the chain goes into one indirect descriptor (it has more than
// one buffer and at most indirectMax), and how many ring descriptors it needs, or ErrQueueFull
// when numFree are not enough.
func planChain(bufs []Buffer, indirectMax, numFree int) (writable uint64, useIndirect bool, need int, err error) {
	if len(bufs) == 0 {
		return 0, false, 0, errEmptyChain
	}
	seenWrite := false
	for _, b := range bufs {
		if b.Write {
			seenWrite = true
			writable += uint64(b.Len)
		} else if seenWrite {
			return 0, false, 0, errChainOrder
		}
	}
	useIndirect = len(bufs) > 1 && len(bufs) <= indirectMax
	need = len(bufs)
	if useIndirect {
		need = 1
	}
	if need > numFree {
		return 0, false, 0, ErrQueueFull
	}
	return writable, useIndirect, need, nil
}
