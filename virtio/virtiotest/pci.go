package virtiotest

import (
	"encoding/binary"
	"fmt"

	"github.com/unikit/unikit/virtio"
)

// Layout of the modelled PCI function: capabilities in configuration space pointing into
// BAR 0, which holds the common configuration, ISR, device configuration and notify regions.
const (
	PCIBARSize       = 0x4000
	PCICommonOff     = 0x0000
	PCIISROff        = 0x1000
	PCIDeviceOff     = 0x2000
	PCINotifyOff     = 0x3000
	PCINotifyMult    = 4
	pciCommonLen     = 0x40
	pciDeviceLen     = 0x100
	pciNotifyLen     = 0x1000
	pciCapCommonAddr = 0x40
)

func (d *Device) initPCIConfig() {
	c := d.pciCfg[:]
	binary.LittleEndian.PutUint16(c[0:], virtio.PCIVendorID)
	binary.LittleEndian.PutUint16(c[2:], uint16(0x1040+d.id))
	binary.LittleEndian.PutUint16(c[virtio.PCIConfigStatus:], 1<<4)
	c[8] = 1 // revision: modern
	c[virtio.PCIConfigCapPointer] = pciCapCommonAddr
	caps := []struct {
		typ      uint8
		off, len uint32
		size     uint8
	}{
		{virtio.PCICapCommonCfg, PCICommonOff, pciCommonLen, 16},
		{virtio.PCICapNotifyCfg, PCINotifyOff, pciNotifyLen, 20},
		{virtio.PCICapISRCfg, PCIISROff, 4, 16},
		{virtio.PCICapDeviceCfg, PCIDeviceOff, pciDeviceLen, 16},
	}
	at := uint32(pciCapCommonAddr)
	for i, cp := range caps {
		next := at + 24
		if i == len(caps)-1 {
			next = 0
		}
		c[at] = virtio.PCICapVendor
		c[at+1] = uint8(next)
		c[at+2] = cp.size
		c[at+virtio.PCICapCfgType] = cp.typ
		c[at+virtio.PCICapBAR] = 0
		binary.LittleEndian.PutUint32(c[at+virtio.PCICapOffset:], cp.off)
		binary.LittleEndian.PutUint32(c[at+virtio.PCICapLength:], cp.len)
		if cp.typ == virtio.PCICapNotifyCfg {
			binary.LittleEndian.PutUint32(c[at+virtio.PCICapNotifyMultiplier:], PCINotifyMult)
		}
		at = next
	}
}

// PatchPCIConfig writes b into the modelled PCI configuration space at off, for tests that
// present a malformed capability list.
func (d *Device) PatchPCIConfig(off int, b []byte) {
	d.mu.Lock()
	copy(d.pciCfg[off:], b)
	d.mu.Unlock()
}

// PCIConfig returns the PCI function's configuration space (read-only in this model).
func (d *Device) PCIConfig() virtio.Registers { return pciCfgRegs{d} }

// BAR implements virtio.BARFunc: BAR 0 is the device's register BAR; the others are absent.
func (d *Device) BAR(i int) (virtio.Registers, uint64, error) {
	if i != 0 {
		return nil, 0, fmt.Errorf("virtiotest: BAR %d not implemented", i)
	}
	return barRegs{d}, PCIBARSize, nil
}

type pciCfgRegs struct{ d *Device }

func (r pciCfgRegs) read(off uint32, n int) uint32 {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	var v uint32
	for i := n - 1; i >= 0; i-- {
		v <<= 8
		if o := uint64(off) + uint64(i); o < 256 {
			v |= uint32(r.d.pciCfg[o])
		}
	}
	return v
}

// Read8 implements virtio.Registers.
func (r pciCfgRegs) Read8(off uint32) uint8 { return uint8(r.read(off, 1)) }

// Read16 implements virtio.Registers.
func (r pciCfgRegs) Read16(off uint32) uint16 { return uint16(r.read(off, 2)) }

// Read32 implements virtio.Registers.
func (r pciCfgRegs) Read32(off uint32) uint32 { return r.read(off, 4) }

// Write8 implements virtio.Registers.
func (r pciCfgRegs) Write8(uint32, uint8) {}

// Write16 implements virtio.Registers.
func (r pciCfgRegs) Write16(uint32, uint16) {}

// Write32 implements virtio.Registers.
func (r pciCfgRegs) Write32(uint32, uint32) {}

type barRegs struct{ d *Device }

// Read8 implements virtio.Registers.
func (r barRegs) Read8(off uint32) uint8 { return uint8(r.read(off, 1)) }

// Read16 implements virtio.Registers.
func (r barRegs) Read16(off uint32) uint16 { return uint16(r.read(off, 2)) }

// Read32 implements virtio.Registers.
func (r barRegs) Read32(off uint32) uint32 { return r.read(off, 4) }

// Write8 implements virtio.Registers.
func (r barRegs) Write8(off uint32, v uint8) { r.write(off, 1, uint32(v)) }

// Write16 implements virtio.Registers.
func (r barRegs) Write16(off uint32, v uint16) { r.write(off, 2, uint32(v)) }

// Write32 implements virtio.Registers.
func (r barRegs) Write32(off uint32, v uint32) { r.write(off, 4, v) }

func (r barRegs) read(off uint32, width int) uint32 {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case off >= PCIDeviceOff && off < PCIDeviceOff+pciDeviceLen:
		return d.readConfig(off-PCIDeviceOff, width)
	case off == PCIISROff:
		v := d.isr
		d.isr = 0
		return v
	case off >= pciCommonLen:
		return 0
	}
	q := d.selected()
	switch off {
	case virtio.PCICommonDFSelect:
		return d.dfSel
	case virtio.PCICommonDF:
		return d.deviceFeatures()
	case virtio.PCICommonGFSelect:
		return d.gfSel
	case virtio.PCICommonGF:
		if d.gfSel == 1 {
			return uint32(d.driverFeat >> 32)
		}
		return uint32(d.driverFeat)
	case virtio.PCICommonMSIX, virtio.PCICommonQueueMSIX:
		return 0xffff // VIRTIO_MSI_NO_VECTOR: INTx only
	case virtio.PCICommonNumQueues:
		return uint32(d.numQueues())
	case virtio.PCICommonStatus:
		return uint32(d.status)
	case virtio.PCICommonCfgGen:
		return d.readGeneration() & 0xff
	case virtio.PCICommonQueueSelect:
		return d.queueSel
	}
	if q == nil {
		return 0
	}
	switch off {
	case virtio.PCICommonQueueSize:
		if q.size == 0 {
			return uint32(q.max)
		}
		return uint32(q.size)
	case virtio.PCICommonQueueEnable:
		if q.ready {
			return 1
		}
	case virtio.PCICommonQueueNotOff:
		return uint32(q.index)
	case virtio.PCICommonQueueDesc, virtio.PCICommonQueueDesc + 4:
		return uint32(q.desc >> (8 * (off & 4)))
	case virtio.PCICommonQueueDriver, virtio.PCICommonQueueDriver + 4:
		return uint32(q.driver >> (8 * (off & 4)))
	case virtio.PCICommonQueueDevice, virtio.PCICommonQueueDevice + 4:
		return uint32(q.device >> (8 * (off & 4)))
	}
	return 0
}

func (r barRegs) write(off uint32, width int, v uint32) {
	d := r.d
	if off >= PCINotifyOff && off < PCINotifyOff+pciNotifyLen {
		d.notify((off - PCINotifyOff) / PCINotifyMult)
		return
	}
	var after func()
	d.mu.Lock()
	q := d.selected()
	switch off {
	case virtio.PCICommonDFSelect:
		d.dfSel = v
	case virtio.PCICommonGFSelect:
		d.gfSel = v
	case virtio.PCICommonGF:
		d.setDriverFeatures(v)
	case virtio.PCICommonStatus:
		after = d.setStatus(uint8(v))
	case virtio.PCICommonQueueSelect:
		d.queueSel = v
	}
	if q != nil && !q.ready {
		switch off {
		case virtio.PCICommonQueueSize:
			q.size = int(v)
		case virtio.PCICommonQueueDesc, virtio.PCICommonQueueDesc + 4:
			setHalf(q, virtio.MMIOQueueDescLow+off-virtio.PCICommonQueueDesc, v)
		case virtio.PCICommonQueueDriver, virtio.PCICommonQueueDriver + 4:
			setHalf(q, virtio.MMIOQueueDriverLow+off-virtio.PCICommonQueueDriver, v)
		case virtio.PCICommonQueueDevice, virtio.PCICommonQueueDevice + 4:
			setHalf(q, virtio.MMIOQueueDeviceLow+off-virtio.PCICommonQueueDevice, v)
		case virtio.PCICommonQueueEnable:
			if v == 1 {
				if q.size == 0 {
					q.size = q.max
				}
				d.enableQueue(q)
			}
		}
	}
	d.mu.Unlock()
	if after != nil {
		after()
	}
}
