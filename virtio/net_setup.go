package virtio

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/unikit/unikit/netstack/link"
)

// negotiateNet runs the feature negotiation of [Negotiate] for a network device: it accepts
// the features of [NetSupported] that want allows (all of them when want is zero) and the
// device offers, less those whose dependencies are missing (section 5.1.3.1). It returns them
// with the number of queue pairs the device has, 1 without VIRTIO_NET_F_MQ.
func negotiateNet(t Transport, want uint64) (features uint64, maxPairs int, err error) {
	mask := uint64(NetSupported)
	if want != 0 {
		mask &= want | FeatureVersion1
	}
	maxPairs = 1
	features, err = Negotiate(t, func(offered uint64) uint64 {
		f := offered & mask
		// Dependencies of section 5.1.3.1.
		if f&NetFCsum == 0 {
			f &^= NetFHostTSO4 | NetFHostTSO6
		}
		if f&NetFGuestCsum == 0 || f&NetFMrgRxbuf == 0 {
			// Without merged buffers GUEST_TSO needs 64 KiB receive buffers; not worth it.
			f &^= NetFGuestTSO4 | NetFGuestTSO6
		}
		if f&NetFCtrlVQ == 0 {
			f &^= NetFMQ
		}
		if f&NetFMQ != 0 {
			// Section 5.1.4.1: max_virtqueue_pairs must be in 1..0x8000; otherwise do
			// without MQ (config may be read during negotiation).
			var b [2]byte
			if ReadConfigConsistent(t, netConfigPairsOff, b[:]) != nil {
				f &^= NetFMQ
			} else if p := binary.LittleEndian.Uint16(b[:]); p < 1 || p > 0x8000 {
				f &^= NetFMQ
			} else {
				maxPairs = int(p)
			}
		}
		return f
	})
	return features, maxPairs, err
}

// setup brings a negotiated device to DRIVER_OK (section 3.1.1, steps 7 and 8): it reads the
// configuration, sets up the queues (and the control queue after the device's maxPairs
// pairs), posts the receive buffers and, with VIRTIO_NET_F_MQ, tells the device that one pair
// is used. The caller marks the device FAILED if it returns an error.
func (n *Net) setup(mem Memory, c *NetConfig, maxPairs int) error {
	if err := n.readConfig(c.MAC); err != nil {
		return err
	}
	if err := n.setupQueues(mem, c.QueueSize); err != nil {
		return err
	}
	if n.features&NetFCtrlVQ != 0 {
		if err := n.setupCtrl(mem, 2*maxPairs); err != nil {
			return err
		}
	}
	if err := DriverOK(n.t); err != nil {
		return err
	}
	if n.features&NetFMQ != 0 {
		// One queue pair is used; say so explicitly (section 5.1.6.5.5).
		var pairs [2]byte
		binary.LittleEndian.PutUint16(pairs[:], 1)
		if err := n.ctrlCommand(ctrlClassMQ, ctrlMQPairsSet, pairs[:]); err != nil {
			return err
		}
	}
	n.rxMu.Lock()
	if n.rx.KickPrepare() {
		n.t.Notify(NetRxQueue, NetRxQueue)
	}
	n.rxMu.Unlock()
	return nil
}

// readConfig reads MAC, MTU and link status (section 5.1.4), distrusting the values.
func (n *Net) readConfig(fallback net.HardwareAddr) error {
	var cfg [12]byte
	if err := ReadConfigConsistent(n.t, 0, cfg[0:6]); err != nil {
		return err
	}
	if err := ReadConfigConsistent(n.t, netConfigStatOff, cfg[6:8]); err != nil {
		return err
	}
	if err := ReadConfigConsistent(n.t, netConfigMTUOff, cfg[10:12]); err != nil {
		return err
	}
	switch {
	case n.features&NetFMAC != 0:
		n.mac = net.HardwareAddr(append([]byte(nil), cfg[0:6]...))
	case len(fallback) == 6:
		n.mac = append(net.HardwareAddr(nil), fallback...)
	default:
		n.mac = link.RandomMAC()
	}
	n.mtu = 1500
	if n.features&NetFMTU != 0 {
		if mtu := int(binary.LittleEndian.Uint16(cfg[10:])); mtu >= netMinMTU {
			n.mtu = mtu
		} else {
			n.features &^= NetFMTU // section 5.1.4.1: ignore an MTU below 68
		}
	}
	n.up.Store(n.features&NetFStatus == 0 || binary.LittleEndian.Uint16(cfg[6:])&netStatusLinkUp != 0)
	if n.features&NetFCsum != 0 {
		n.linkFeat |= link.FeatureTxCsum
	}
	if n.features&NetFHostTSO4 != 0 {
		n.linkFeat |= link.FeatureTxTSO4
	}
	if n.features&NetFHostTSO6 != 0 {
		n.linkFeat |= link.FeatureTxTSO6
	}
	if n.features&NetFGuestCsum != 0 {
		n.linkFeat |= link.FeatureRxCsum
	}
	if n.features&(NetFGuestTSO4|NetFGuestTSO6) != 0 {
		n.linkFeat |= link.FeatureRxGRO
	}
	return nil
}

func (n *Net) setupQueues(mem Memory, size int) error {
	gso := n.features&(NetFGuestTSO4|NetFGuestTSO6) != 0 // the device may send 64 KiB frames
	if size == 0 {
		size = DefaultNetQueueSize
		if gso {
			size = DefaultNetGSOQueueSize
		}
	}
	for _, i := range []int{NetRxQueue, NetTxQueue} {
		max := n.t.QueueMax(i)
		if max < 2 {
			return fmt.Errorf("%w: queue %d has maximum size %d", ErrUnsupported, i, max)
		}
		for size > max {
			size /= 2
		}
	}
	var err error
	if n.rx, err = NewVirtqueue(mem, size, n.features, 0); err != nil {
		return err
	}
	if n.tx, err = NewVirtqueue(mem, size, n.features, 0); err != nil {
		return err
	}
	n.rxBuf, n.txBuf = make([]Buffer, 1), make([]Buffer, 1)

	// Receive buffers: one descriptor each; the whole frame must fit in one buffer without
	// MRG_RXBUF (section 5.1.6.3.1).
	n.rxSize = netRxBufSize
	if gso {
		n.rxSize = netRxGSOBufSize
	}
	if n.features&NetFMrgRxbuf == 0 {
		n.rxSize = max(n.rxSize, (n.hdrLen+link.EthernetHeaderLen+n.mtu+63)&^63)
	}
	n.merge = 1
	if n.features&NetFMrgRxbuf != 0 {
		n.merge = (n.hdrLen+link.MaxGSOSize+n.rxSize-1)/n.rxSize + 1
		n.merge = min(n.merge, size)
	}
	if n.rxBufs, err = mem.Alloc(size*n.rxSize, 64); err != nil {
		return err
	}
	n.rxNext = make([]int32, size)
	n.rxLent = make([]bool, size)
	n.rxSegs = make([][][]byte, size)
	for i := range n.rxSegs {
		n.rxSegs[i] = make([][]byte, 0, n.merge)
	}
	n.frames = make([]link.Frame, netBatch)

	// Transmit buffers: header and frame in one descriptor (VERSION_1 implies ANY_LAYOUT).
	n.txLimit = link.EthernetHeaderLen + n.mtu
	slots := size
	n.txSlot = (n.hdrLen + n.txLimit + 63) &^ 63
	if n.linkFeat.Has(link.FeatureTxTSO4) || n.linkFeat.Has(link.FeatureTxTSO6) {
		n.txSlot, slots = max(n.txSlot, netTSOSlot), min(size, netTSOSlots)
	}
	if n.txBufs, err = mem.Alloc(slots*n.txSlot, 64); err != nil {
		return err
	}
	n.txFree = make([]uint16, slots)
	for i := range n.txFree {
		n.txFree[i] = uint16(slots - 1 - i)
	}
	n.tx.DisableInterrupts() // completions are reclaimed lazily by Transmit

	for _, i := range []int{NetRxQueue, NetTxQueue} {
		q := n.rx
		if i == NetTxQueue {
			q = n.tx
		}
		d, dr, dv := q.Addrs()
		if err := n.t.EnableQueue(i, size, d, dr, dv); err != nil {
			return err
		}
	}
	n.rxMu.Lock()
	defer n.rxMu.Unlock()
	for b := range size {
		if err := n.postRx(b); err != nil {
			return err
		}
	}
	return nil
}
