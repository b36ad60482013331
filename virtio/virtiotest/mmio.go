package virtiotest

import "github.com/unikit/unikit/virtio"

// MMIO returns the device's virtio-mmio register window (version 2).
func (d *Device) MMIO() virtio.Registers { return mmioRegs{d} }

type mmioRegs struct{ d *Device }

// Read8 implements virtio.Registers.
func (r mmioRegs) Read8(off uint32) uint8 { return uint8(r.read(off, 1)) }

// Read16 implements virtio.Registers.
func (r mmioRegs) Read16(off uint32) uint16 { return uint16(r.read(off, 2)) }

// Read32 implements virtio.Registers.
func (r mmioRegs) Read32(off uint32) uint32 { return r.read(off, 4) }

// Write8 implements virtio.Registers.
func (r mmioRegs) Write8(off uint32, v uint8) { r.write(off, uint32(v)) }

// Write16 implements virtio.Registers.
func (r mmioRegs) Write16(off uint32, v uint16) { r.write(off, uint32(v)) }

// Write32 implements virtio.Registers.
func (r mmioRegs) Write32(off uint32, v uint32) { r.write(off, v) }

func (r mmioRegs) read(off uint32, width int) uint32 {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= virtio.MMIOConfig {
		return d.readConfig(off-virtio.MMIOConfig, width)
	}
	switch off {
	case virtio.MMIOMagicValue:
		return virtio.MMIOMagic
	case virtio.MMIOVersion:
		return 2
	case virtio.MMIODeviceID:
		return d.id
	case virtio.MMIOVendorID:
		return 0x554d4551 // "QEMU", as QEMU's model reports
	case virtio.MMIODeviceFeatures:
		return d.deviceFeatures()
	case virtio.MMIOQueueNumMax:
		if q := d.selected(); q != nil && !q.ready {
			return uint32(q.max)
		}
		return 0
	case virtio.MMIOQueueReady:
		if q := d.selected(); q != nil && q.ready {
			return 1
		}
		return 0
	case virtio.MMIOInterruptStatus:
		return d.isr
	case virtio.MMIOStatus:
		return uint32(d.status)
	case virtio.MMIOConfigGeneration:
		return d.readGeneration()
	}
	return 0
}

func (r mmioRegs) write(off uint32, v uint32) {
	d := r.d
	var after func()
	var notify = -1
	d.mu.Lock()
	q := d.selected()
	switch off {
	case virtio.MMIODeviceFeaturesSel:
		d.dfSel = v
	case virtio.MMIODriverFeaturesSel:
		d.gfSel = v
	case virtio.MMIODriverFeatures:
		d.setDriverFeatures(v)
	case virtio.MMIOQueueSel:
		d.queueSel = v
	case virtio.MMIOQueueNum:
		if q != nil && !q.ready {
			q.size = int(v)
		}
	case virtio.MMIOQueueDescLow, virtio.MMIOQueueDescHigh, virtio.MMIOQueueDriverLow,
		virtio.MMIOQueueDriverHigh, virtio.MMIOQueueDeviceLow, virtio.MMIOQueueDeviceHigh:
		if q != nil && !q.ready {
			setHalf(q, off, v)
		}
	case virtio.MMIOQueueReady:
		if q != nil && v == 1 && !q.ready {
			d.enableQueue(q)
		}
	case virtio.MMIOQueueNotify:
		notify = int(v & 0xffff)
	case virtio.MMIOInterruptACK:
		d.isr &^= v
	case virtio.MMIOStatus:
		after = d.setStatus(uint8(v))
	}
	d.mu.Unlock()
	if after != nil {
		after()
	}
	if notify >= 0 {
		d.notify(uint32(notify))
	}
}

// setHalf sets one 32-bit half of a queue address register.
func setHalf(q *Queue, off, v uint32) {
	var p *uint64
	switch off &^ 7 {
	case virtio.MMIOQueueDescLow:
		p = &q.desc
	case virtio.MMIOQueueDriverLow:
		p = &q.driver
	default:
		p = &q.device
	}
	if off&4 == 0 {
		*p = *p&^0xffffffff | uint64(v)
	} else {
		*p = *p&0xffffffff | uint64(v)<<32
	}
}
