package virtio

import (
	"errors"
	"fmt"
	"time"
)

// Control virtqueue (VIRTIO_NET_F_CTRL_VQ, section 5.1.6.5).
const (
	ctrlClassMQ    = 4 // VIRTIO_NET_CTRL_MQ
	ctrlMQPairsSet = 0 // VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET
	ctrlOK         = 0 // VIRTIO_NET_OK
	// ctrlQueueSize bounds the control queue: commands are sent one at a time.
	ctrlQueueSize = 16
	// ctrlTimeout bounds how long a command may take, so that a device that never completes
	// one cannot hang the driver.
	ctrlTimeout = 2 * time.Second
)

// ErrCtrlCommand is returned when the device rejects a control command.
var ErrCtrlCommand = errors.New("virtio: control command rejected")

// setupCtrl sets up the control queue at index i.
func (n *Net) setupCtrl(mem Memory, i int) error {
	max := n.t.QueueMax(i)
	if max < 2 {
		return fmt.Errorf("%w: control queue %d has maximum size %d", ErrUnsupported, i, max)
	}
	size := ctrlQueueSize
	for size > max {
		size /= 2
	}
	var err error
	if n.ctrl, err = NewVirtqueue(mem, size, n.features&^FeatureEventIdx, 0); err != nil {
		return err
	}
	if n.ctrlBuf, err = mem.Alloc(64, 8); err != nil {
		return err
	}
	n.ctrlIndex = i
	n.ctrl.DisableInterrupts() // commands are polled
	d, dr, dv := n.ctrl.Addrs()
	return n.t.EnableQueue(i, size, d, dr, dv)
}

// ctrlCommand sends one command and polls for its completion, as Linux does, with a timeout.
// It is used during initialisation only.
func (n *Net) ctrlCommand(class, cmd byte, data []byte) error {
	if len(data) > 32 {
		return errors.New("virtio: control command data too long")
	}
	b := n.ctrlBuf
	b.Buf[0], b.Buf[1] = class, cmd
	copy(b.Buf[2:], data)
	b.Buf[48] = 0xff // ack, written by the device
	bufs := []Buffer{{Addr: b.Addr, Len: 2}}
	if len(data) > 0 {
		bufs = append(bufs, Buffer{Addr: b.Addr + 2, Len: uint32(len(data))})
	}
	bufs = append(bufs, Buffer{Addr: b.Addr + 48, Len: 1, Write: true})
	if _, err := n.ctrl.Add(bufs, 0); err != nil {
		return err
	}
	if n.ctrl.KickPrepare() {
		n.t.Notify(n.ctrlIndex, uint32(n.ctrlIndex))
	}
	deadline := time.Now().Add(ctrlTimeout)
	for {
		u, ok, err := n.ctrl.Get()
		if err != nil {
			return err
		}
		if ok {
			if u.Len < 1 || b.Buf[48] != ctrlOK {
				return fmt.Errorf("%w: class %d command %d: ack %d", ErrCtrlCommand, class, cmd, b.Buf[48])
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: control command class %d command %d not completed in %v",
				ErrDeviceBroken, class, cmd, ctrlTimeout)
		}
		time.Sleep(50 * time.Microsecond)
	}
}
