package virtio

import "fmt"

// virtio-pci modern layout (VIRTIO 1.2 section 4.1), pinned by tests.
const (
	PCIVendorID = 0x1af4 // Red Hat, Inc.: every virtio device

	// Offsets in PCI configuration space.
	PCIConfigStatus     = 0x06 // bit 4: capabilities list present
	PCIConfigCapPointer = 0x34

	PCICapVendor = 0x09 // capability ID of virtio structures

	// virtio_pci_cap field offsets.
	PCICapCfgType = 3
	PCICapBAR     = 4
	PCICapOffset  = 8
	PCICapLength  = 12
	// PCICapNotifyMultiplier is the offset of notify_off_multiplier in the notify capability.
	PCICapNotifyMultiplier = 16

	// cfg_type values.
	PCICapCommonCfg = 1
	PCICapNotifyCfg = 2
	PCICapISRCfg    = 3
	PCICapDeviceCfg = 4

	// virtio_pci_common_cfg field offsets.
	PCICommonDFSelect     = 0
	PCICommonDF           = 4
	PCICommonGFSelect     = 8
	PCICommonGF           = 12
	PCICommonMSIX         = 16
	PCICommonNumQueues    = 18
	PCICommonStatus       = 20
	PCICommonCfgGen       = 21
	PCICommonQueueSelect  = 22
	PCICommonQueueSize    = 24
	PCICommonQueueMSIX    = 26
	PCICommonQueueEnable  = 28
	PCICommonQueueNotOff  = 30
	PCICommonQueueDesc    = 32
	PCICommonQueueDriver  = 40
	PCICommonQueueDevice  = 48
	PCICommonCfgMinLength = 56
)

// BARFunc maps BAR i (0 to 5) of the device's PCI function and returns access to it and its
// size in bytes. A runtime implements it by reading the BAR registers and mapping the region.
type BARFunc func(i int) (Registers, uint64, error)

// pciRegion is a structure found through a capability: a window into a BAR.
type pciRegion struct {
	r      Registers
	off    uint32
	length uint32
}

// PCI is the virtio-pci modern transport.
type PCI struct {
	deviceID  uint32
	common    pciRegion
	notify    pciRegion
	isr       pciRegion
	device    pciRegion
	mult      uint32
	notifyOff []uint32 // per queue, offset inside the notify region; grown by queues
}

var _ Transport = (*PCI)(nil)

// maxCaps bounds the capability walk, so that a looping list cannot hang the driver.
const maxCaps = 48

// NewPCI walks the vendor capabilities of the PCI function whose configuration space is cfg
// (section 4.1.4) and returns its transport. Capabilities naming a BAR other than 0 to 5 are
// ignored, as the specification requires; a structure that does not fit in its BAR, a
// missing common, notify, ISR or device structure, or a notify offset outside the notify
// structure is an error.
func NewPCI(cfg Registers, bar BARFunc) (*PCI, error) {
	if v := cfg.Read16(0); v != PCIVendorID {
		return nil, fmt.Errorf("%w: PCI vendor %#04x", ErrUnsupported, v)
	}
	p := &PCI{}
	switch did := uint32(cfg.Read16(2)); {
	case did >= 0x1040 && did <= 0x107f:
		p.deviceID = did - 0x1040
	case did >= 0x1000 && did <= 0x103f: // transitional: subsystem device ID
		p.deviceID = uint32(cfg.Read16(0x2e))
	default:
		return nil, fmt.Errorf("%w: PCI device %#04x", ErrUnsupported, did)
	}
	if cfg.Read16(PCIConfigStatus)&(1<<4) == 0 {
		return nil, fmt.Errorf("%w: no PCI capability list", ErrUnsupported)
	}
	var bars [6]Registers
	var sizes [6]uint64
	found := map[uint8]bool{}
	ptr := uint32(cfg.Read8(PCIConfigCapPointer)) &^ 3
	for n := 0; ptr != 0 && n < maxCaps; n++ {
		if ptr < 0x40 || ptr > 0x100-16 {
			return nil, fmt.Errorf("%w: PCI capability at %#x", ErrDeviceBroken, ptr)
		}
		id, next := cfg.Read8(ptr), uint32(cfg.Read8(ptr+1))&^3
		if id == PCICapVendor {
			typ, b := cfg.Read8(ptr+PCICapCfgType), int(cfg.Read8(ptr+PCICapBAR))
			if b <= 5 && !found[typ] && (typ >= PCICapCommonCfg && typ <= PCICapDeviceCfg) {
				if bars[b] == nil {
					r, size, err := bar(b)
					if err != nil {
						return nil, fmt.Errorf("virtio: mapping BAR %d: %w", b, err)
					}
					bars[b], sizes[b] = r, size
				}
				off, length := cfg.Read32(ptr+PCICapOffset), cfg.Read32(ptr+PCICapLength)
				if uint64(off)+uint64(length) > sizes[b] {
					return nil, fmt.Errorf("%w: capability type %d: %#x+%#x outside BAR %d of %#x bytes",
						ErrDeviceBroken, typ, off, length, b, sizes[b])
				}
				reg := pciRegion{r: bars[b], off: off, length: length}
				switch typ {
				case PCICapCommonCfg:
					p.common = reg
				case PCICapNotifyCfg:
					if ptr+PCICapNotifyMultiplier+4 > 0x100 {
						return nil, fmt.Errorf("%w: notify capability truncated", ErrDeviceBroken)
					}
					p.notify = reg
					p.mult = cfg.Read32(ptr + PCICapNotifyMultiplier)
				case PCICapISRCfg:
					p.isr = reg
				case PCICapDeviceCfg:
					p.device = reg
				}
				found[typ] = true
			}
		}
		ptr = next
	}
	if !found[PCICapCommonCfg] || !found[PCICapNotifyCfg] || !found[PCICapISRCfg] || !found[PCICapDeviceCfg] {
		return nil, fmt.Errorf("%w: missing virtio-pci structures (found %v)", ErrUnsupported, found)
	}
	if p.common.length < PCICommonCfgMinLength || p.isr.length < 1 {
		return nil, fmt.Errorf("%w: virtio-pci structures too short", ErrDeviceBroken)
	}
	return p, nil
}

// DeviceID implements [Transport].
func (p *PCI) DeviceID() uint32 { return p.deviceID }

func (p *PCI) c8(off uint32) uint8   { return p.common.r.Read8(p.common.off + off) }
func (p *PCI) c16(off uint32) uint16 { return p.common.r.Read16(p.common.off + off) }
func (p *PCI) c32(off uint32) uint32 { return p.common.r.Read32(p.common.off + off) }
func (p *PCI) w16(off uint32, v uint16) {
	p.common.r.Write16(p.common.off+off, v)
}
func (p *PCI) w32(off uint32, v uint32) { p.common.r.Write32(p.common.off+off, v) }
func (p *PCI) w64(off uint32, v uint64) {
	p.w32(off, uint32(v))
	p.w32(off+4, uint32(v>>32))
}

// Status implements [Transport].
func (p *PCI) Status() Status { return Status(p.c8(PCICommonStatus)) }

// SetStatus implements [Transport].
func (p *PCI) SetStatus(s Status) { p.common.r.Write8(p.common.off+PCICommonStatus, uint8(s)) }

// DeviceFeatures implements [Transport].
func (p *PCI) DeviceFeatures() uint64 {
	p.w32(PCICommonDFSelect, 0)
	lo := p.c32(PCICommonDF)
	p.w32(PCICommonDFSelect, 1)
	return uint64(p.c32(PCICommonDF))<<32 | uint64(lo)
}

// SetDriverFeatures implements [Transport].
func (p *PCI) SetDriverFeatures(f uint64) {
	p.w32(PCICommonGFSelect, 0)
	p.w32(PCICommonGF, uint32(f))
	p.w32(PCICommonGFSelect, 1)
	p.w32(PCICommonGF, uint32(f>>32))
}

// ConfigGeneration implements [Transport].
func (p *PCI) ConfigGeneration() uint32 { return uint32(p.c8(PCICommonCfgGen)) }

// ReadConfig implements [Transport]. Reads beyond the device structure return zeros.
func (p *PCI) ReadConfig(off uint32, b []byte) {
	if uint64(off)+uint64(len(b)) > uint64(p.device.length) {
		clear(b)
		return
	}
	readConfigFields(p.device.r, p.device.off, off, b)
}

// NumQueues implements [Transport]. The number is read from the device each time: it may
// change with the negotiated features (QEMU's virtio-net adds its queue pairs, and moves its
// control queue after them, when VIRTIO_NET_F_MQ is negotiated).
func (p *PCI) NumQueues() int { return p.queues() }

// queues reads num_queues and makes room for that many notify offsets. The slice only grows,
// so that a device shrinking num_queues cannot make Notify index past it; it holds at most
// 65535 entries.
func (p *PCI) queues() int {
	n := int(p.c16(PCICommonNumQueues))
	if n > len(p.notifyOff) {
		p.notifyOff = append(p.notifyOff, make([]uint32, n-len(p.notifyOff))...)
	}
	return n
}

// QueueMax implements [Transport].
func (p *PCI) QueueMax(i int) int {
	if i >= p.queues() {
		return 0
	}
	p.w16(PCICommonQueueSelect, uint16(i))
	return int(min(p.c16(PCICommonQueueSize), MaxQueueSize))
}

// EnableQueue implements [Transport], following section 4.1.5.1.3.
func (p *PCI) EnableQueue(i, size int, desc, driver, device uint64) error {
	if n := p.queues(); i >= n {
		return fmt.Errorf("virtio: queue %d of %d", i, n)
	}
	p.w16(PCICommonQueueSelect, uint16(i))
	if max := p.c16(PCICommonQueueSize); max == 0 || size > int(max) {
		return fmt.Errorf("virtio: queue %d: size %d, device maximum %d", i, size, max)
	}
	p.w16(PCICommonQueueSize, uint16(size))
	p.w64(PCICommonQueueDesc, desc)
	p.w64(PCICommonQueueDriver, driver)
	p.w64(PCICommonQueueDevice, device)
	off := uint64(p.c16(PCICommonQueueNotOff)) * uint64(p.mult)
	if off+2 > uint64(p.notify.length) {
		return fmt.Errorf("%w: queue %d notify offset %#x outside the %#x-byte notify structure",
			ErrDeviceBroken, i, off, p.notify.length)
	}
	p.notifyOff[i] = p.notify.off + uint32(off)
	p.w16(PCICommonQueueEnable, 1)
	return nil
}

// Notify implements [Transport].
func (p *PCI) Notify(i int, data uint32) {
	if i < len(p.notifyOff) {
		p.notify.r.Write16(p.notifyOff[i], uint16(data))
	}
}

// AckInterrupt implements [Transport]: reading the ISR status clears it.
func (p *PCI) AckInterrupt() uint32 { return uint32(p.isr.r.Read8(p.isr.off)) }
