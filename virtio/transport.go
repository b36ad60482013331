package virtio

// Status is the device status byte (VIRTIO 1.2 section 2.1).
type Status uint8

// Device status bits.
const (
	StatusAcknowledge      Status = 1
	StatusDriver           Status = 2
	StatusDriverOK         Status = 4
	StatusFeaturesOK       Status = 8
	StatusDeviceNeedsReset Status = 64
	StatusFailed           Status = 128
)

// Registers is access to a device's register window: a virtio-mmio region, a PCI BAR region
// or a PCI function's configuration space. Offsets are relative to the window; accesses are
// naturally aligned and little-endian, as the device defines them. A unikernel runtime
// implements it with volatile loads and stores (or port I/O); virtiotest implements it over a
// device model.
type Registers interface {
	Read8(off uint32) uint8
	Read16(off uint32) uint16
	Read32(off uint32) uint32
	Write8(off uint32, v uint8)
	Write16(off uint32, v uint16)
	Write32(off uint32, v uint32)
}

// Transport is one device reached through a transport (virtio-mmio or virtio-pci): its status,
// features, configuration space, queues and notifications (VIRTIO 1.2 chapter 4).
type Transport interface {
	// DeviceID returns the virtio device type (1 = network).
	DeviceID() uint32
	// Status reads the device status.
	Status() Status
	// SetStatus writes the device status; 0 resets the device.
	SetStatus(Status)
	// DeviceFeatures reads the feature bits the device offers (bits 0-63).
	DeviceFeatures() uint64
	// SetDriverFeatures writes the feature bits the driver accepts.
	SetDriverFeatures(uint64)
	// ConfigGeneration reads the configuration generation counter.
	ConfigGeneration() uint32
	// ReadConfig reads len(p) bytes of device-specific configuration at off, with accesses
	// of the natural width for a field of that size (1, 2 or 4 bytes; 8 as two 4-byte reads).
	ReadConfig(off uint32, p []byte)
	// NumQueues returns the number of virtqueues the device has, or -1 if the transport
	// cannot tell (virtio-mmio: probe with QueueMax).
	NumQueues() int
	// QueueMax returns the largest size of queue i, 0 if the queue does not exist.
	QueueMax(i int) int
	// EnableQueue gives queue i of the given size the three areas' addresses and enables it.
	EnableQueue(i, size int, desc, driver, device uint64) error
	// Notify tells the device that queue i has new available buffers; data is the queue
	// index, or the notification data with VIRTIO_F_NOTIFICATION_DATA. It does not allocate.
	Notify(i int, data uint32)
	// AckInterrupt reads and acknowledges the interrupt status: bit 0 used buffers, bit 1
	// configuration change.
	AckInterrupt() uint32
}

// readConfigFields reads p with the widths ReadConfig promises from r at base+off.
func readConfigFields(r Registers, base, off uint32, p []byte) {
	switch len(p) {
	case 1:
		p[0] = r.Read8(base + off)
	case 2:
		v := r.Read16(base + off)
		p[0], p[1] = byte(v), byte(v>>8)
	case 4, 8:
		for i := 0; i < len(p); i += 4 {
			v := r.Read32(base + off + uint32(i))
			p[i], p[i+1], p[i+2], p[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
	default:
		for i := range p {
			p[i] = r.Read8(base + off + uint32(i))
		}
	}
}
