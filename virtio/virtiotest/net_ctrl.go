package virtiotest

import "encoding/binary"

// Pairs returns the queue pair count the driver last set with VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
// or 0.
func (d *NetDevice) Pairs() int { return int(d.pairs.Load()) }

// control processes control commands (section 5.1.6.5): MQ VQ_PAIRS_SET is accepted for 1 to
// max_virtqueue_pairs pairs; everything else is answered VIRTIO_NET_ERR. ctrl is the index of
// the control queue.
func (d *NetDevice) control(ctrl int) {
	if d.ctrlMute {
		return
	}
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	q := d.queues[ctrl]
	c := &d.ctrlChain
	for {
		ok, err := q.Pop(c)
		if err != nil || !ok {
			break
		}
		var cmd [4]byte
		n := 0
		for _, b := range c.Readable {
			n += copy(cmd[min(n, len(cmd)):], b)
		}
		ack := byte(1) // VIRTIO_NET_ERR
		maxPairs := (len(d.queues) - 1) / 2
		if n == 4 && cmd[0] == 4 && cmd[1] == 0 {
			if p := int(binary.LittleEndian.Uint16(cmd[2:])); p >= 1 && p <= maxPairs {
				d.pairs.Store(int32(p))
				ack = 0
			}
		}
		var w uint32
		if len(c.Writable) > 0 && len(c.Writable[0]) > 0 {
			c.Writable[0][0] = ack
			w = 1
		}
		q.Push(c.Head, w)
	}
	q.Flush()
}
