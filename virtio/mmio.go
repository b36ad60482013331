package virtio

import "fmt"

// virtio-mmio register offsets (VIRTIO 1.2 section 4.2.2), pinned by tests.
const (
	MMIOMagicValue        = 0x000
	MMIOVersion           = 0x004
	MMIODeviceID          = 0x008
	MMIOVendorID          = 0x00c
	MMIODeviceFeatures    = 0x010
	MMIODeviceFeaturesSel = 0x014
	MMIODriverFeatures    = 0x020
	MMIODriverFeaturesSel = 0x024
	MMIOQueueSel          = 0x030
	MMIOQueueNumMax       = 0x034
	MMIOQueueNum          = 0x038
	MMIOQueueReady        = 0x044
	MMIOQueueNotify       = 0x050
	MMIOInterruptStatus   = 0x060
	MMIOInterruptACK      = 0x064
	MMIOStatus            = 0x070
	MMIOQueueDescLow      = 0x080
	MMIOQueueDescHigh     = 0x084
	MMIOQueueDriverLow    = 0x090
	MMIOQueueDriverHigh   = 0x094
	MMIOQueueDeviceLow    = 0x0a0
	MMIOQueueDeviceHigh   = 0x0a4
	MMIOConfigGeneration  = 0x0fc
	MMIOConfig            = 0x100

	// MMIOMagic is the MagicValue, "virt" in little-endian.
	MMIOMagic = 0x74726976
)

// MMIO is the virtio-mmio transport (version 2, "modern") over a register window.
type MMIO struct {
	r Registers
}

var _ Transport = (*MMIO)(nil)

// NewMMIO checks the magic value and version of the device behind r and returns its
// transport. A window with device ID 0 is an empty slot and is refused.
func NewMMIO(r Registers) (*MMIO, error) {
	if m := r.Read32(MMIOMagicValue); m != MMIOMagic {
		return nil, fmt.Errorf("%w: virtio-mmio magic %#x", ErrUnsupported, m)
	}
	if v := r.Read32(MMIOVersion); v != 2 {
		return nil, fmt.Errorf("%w: virtio-mmio version %d (only 2 is supported)", ErrUnsupported, v)
	}
	if r.Read32(MMIODeviceID) == 0 {
		return nil, fmt.Errorf("%w: empty virtio-mmio slot (device ID 0)", ErrUnsupported)
	}
	return &MMIO{r: r}, nil
}

// DeviceID implements [Transport].
func (m *MMIO) DeviceID() uint32 { return m.r.Read32(MMIODeviceID) }

// Status implements [Transport].
func (m *MMIO) Status() Status { return Status(m.r.Read32(MMIOStatus)) }

// SetStatus implements [Transport].
func (m *MMIO) SetStatus(s Status) { m.r.Write32(MMIOStatus, uint32(s)) }

// DeviceFeatures implements [Transport].
func (m *MMIO) DeviceFeatures() uint64 {
	m.r.Write32(MMIODeviceFeaturesSel, 0)
	lo := m.r.Read32(MMIODeviceFeatures)
	m.r.Write32(MMIODeviceFeaturesSel, 1)
	return uint64(m.r.Read32(MMIODeviceFeatures))<<32 | uint64(lo)
}

// SetDriverFeatures implements [Transport].
func (m *MMIO) SetDriverFeatures(f uint64) {
	m.r.Write32(MMIODriverFeaturesSel, 0)
	m.r.Write32(MMIODriverFeatures, uint32(f))
	m.r.Write32(MMIODriverFeaturesSel, 1)
	m.r.Write32(MMIODriverFeatures, uint32(f>>32))
}

// ConfigGeneration implements [Transport].
func (m *MMIO) ConfigGeneration() uint32 { return m.r.Read32(MMIOConfigGeneration) }

// ReadConfig implements [Transport].
func (m *MMIO) ReadConfig(off uint32, p []byte) { readConfigFields(m.r, MMIOConfig, off, p) }

// NumQueues implements [Transport]: virtio-mmio does not say; probe with QueueMax.
func (m *MMIO) NumQueues() int { return -1 }

// QueueMax implements [Transport].
func (m *MMIO) QueueMax(i int) int {
	m.r.Write32(MMIOQueueSel, uint32(i))
	return int(min(m.r.Read32(MMIOQueueNumMax), MaxQueueSize))
}

// EnableQueue implements [Transport], following section 4.2.3.2.
func (m *MMIO) EnableQueue(i, size int, desc, driver, device uint64) error {
	m.r.Write32(MMIOQueueSel, uint32(i))
	if m.r.Read32(MMIOQueueReady) != 0 {
		return fmt.Errorf("%w: queue %d already in use", ErrDeviceBroken, i)
	}
	if max := m.r.Read32(MMIOQueueNumMax); max == 0 || uint32(size) > max {
		return fmt.Errorf("virtio: queue %d: size %d, device maximum %d", i, size, max)
	}
	m.r.Write32(MMIOQueueNum, uint32(size))
	m.r.Write32(MMIOQueueDescLow, uint32(desc))
	m.r.Write32(MMIOQueueDescHigh, uint32(desc>>32))
	m.r.Write32(MMIOQueueDriverLow, uint32(driver))
	m.r.Write32(MMIOQueueDriverHigh, uint32(driver>>32))
	m.r.Write32(MMIOQueueDeviceLow, uint32(device))
	m.r.Write32(MMIOQueueDeviceHigh, uint32(device>>32))
	m.r.Write32(MMIOQueueReady, 1)
	if m.r.Read32(MMIOQueueReady) != 1 {
		return fmt.Errorf("%w: queue %d did not become ready", ErrDeviceBroken, i)
	}
	return nil
}

// Notify implements [Transport].
func (m *MMIO) Notify(i int, data uint32) { m.r.Write32(MMIOQueueNotify, data) }

// AckInterrupt implements [Transport].
func (m *MMIO) AckInterrupt() uint32 {
	s := m.r.Read32(MMIOInterruptStatus)
	if s != 0 {
		m.r.Write32(MMIOInterruptACK, s)
	}
	return s
}
