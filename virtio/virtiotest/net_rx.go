package virtiotest

import (
	"encoding/binary"
	"errors"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/virtio"
)

// LinkStateChanged implements link.Receiver: the link status goes to the driver through
// the configuration space.
func (d *NetDevice) LinkStateChanged(up bool) {
	var s [2]byte
	if up {
		s[0] = 1
	}
	d.SetConfig(6, s[:])
}

// errNoBuffers is returned by receive when a frame needs more receive buffers than the driver
// can post at once (or than one, without VIRTIO_NET_F_MRG_RXBUF): the frame is dropped.
var errNoBuffers = errors.New("virtiotest: no receive buffers")

// DeliverFrames implements link.Receiver: each frame is copied into the driver's receive
// buffers. When none are posted it waits for the driver (back-pressure on the backend).
func (d *NetDevice) DeliverFrames(frames []link.Frame) {
	defer d.backend.Release(frames)
	if d.Status()&virtio.StatusDriverOK == 0 {
		d.counters.RxDropped(len(frames))
		return
	}
	for i := range frames {
		if err := d.receive(&frames[i]); err != nil {
			d.counters.RxDropped(1)
			if err == errQueueOff {
				d.counters.RxDropped(len(frames) - i - 1)
				break
			}
		}
	}
	d.rxq.Flush()
}

// receive writes one frame into as many receive buffers as it needs.
func (d *NetDevice) receive(f *link.Frame) error {
	feat := d.DriverFeatures()
	o := f.Offload
	flen := f.Len()
	if o.GSOType != link.GSONone {
		want := uint64(virtio.NetFGuestTSO4)
		if o.GSOType&^link.GSOECN == link.GSOTCPv6 {
			want = virtio.NetFGuestTSO6
		}
		if feat&want == 0 {
			return errors.New("virtiotest: GSO frame for a driver without GUEST_TSO")
		}
	}
	total := link.VirtioNetHdrLen + flen
	mrg := feat&virtio.NetFMrgRxbuf != 0
	// Collect buffers until the frame fits.
	chains := d.rxChains[:0]
	room := 0
	for room < total {
		if len(chains) == cap(chains) || (!mrg && len(chains) == 1) {
			d.rxChains = chains
			d.giveBack(chains)
			return errNoBuffers
		}
		chains = chains[:len(chains)+1]
		c := &chains[len(chains)-1]
		for {
			ok, err := d.rxq.Pop(c)
			if err != nil {
				d.rxChains = chains[:len(chains)-1]
				d.giveBack(chains[:len(chains)-1])
				return err
			}
			if ok {
				break
			}
			// Empty: publish what we have, ask for a kick and wait.
			d.rxq.Flush()
			if d.rxq.EnableNotify() {
				continue
			}
			select {
			case <-d.rxKick:
			case <-d.done:
				d.rxChains = chains[:len(chains)-1]
				d.giveBack(chains[:len(chains)-1])
				return errQueueOff
			}
		}
		room += c.WritableLen()
	}
	d.rxChains = chains
	var hdr [link.VirtioNetHdrLen]byte
	if o.Flags&link.FlagNeedsCsum != 0 && feat&virtio.NetFGuestCsum == 0 {
		o.Flags = 0 // the device completes the checksum below
	}
	link.PutVirtioNetHdr(hdr[:], o)
	binary.LittleEndian.PutUint16(hdr[10:], uint16(len(chains)))
	w := chainWriter{chains: chains, used: d.rxUsed[:len(chains)]}
	clear(w.used)
	w.write(hdr[:])
	for _, s := range f.Segments {
		w.write(s)
	}
	if f.Offload.Flags&link.FlagNeedsCsum != 0 && feat&virtio.NetFGuestCsum == 0 {
		w.completeChecksum(link.VirtioNetHdrLen+int(f.Offload.CsumStart), link.VirtioNetHdrLen+int(f.Offload.CsumStart)+int(f.Offload.CsumOffset))
	}
	for i := range chains {
		d.rxq.Push(chains[i].Head, uint32(w.used[i]))
	}
	d.counters.Received(1, flen)
	return nil
}

// giveBack completes chains that were popped but not filled, with length 0.
func (d *NetDevice) giveBack(chains []Chain) {
	for i := range chains {
		d.rxq.Push(chains[i].Head, 0)
	}
}
