package virtio

import (
	"errors"
	"fmt"
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

// Errors of device initialisation.
var (
	// ErrFeaturesRejected is returned when the device does not accept the driver's features
	// (FEATURES_OK does not read back).
	ErrFeaturesRejected = errors.New("virtio: device rejected the negotiated features")
	// ErrNeedsReset is returned when the device sets DEVICE_NEEDS_RESET.
	ErrNeedsReset = errors.New("virtio: device needs reset")
	// ErrUnsupported is returned for a device this driver cannot drive.
	ErrUnsupported = errors.New("virtio: unsupported device")
)

// maxResetPolls bounds the wait for a reset to complete, so that a device that never reports
// status 0 cannot hang the driver.
const maxResetPolls = 1 << 20

// Negotiate runs steps 1 to 6 of the driver initialisation sequence (VIRTIO 1.2 section
// 3.1.1): reset, ACKNOWLEDGE, DRIVER, feature negotiation, FEATURES_OK and its check. accept
// gets the device's features and returns the subset the driver wants; Negotiate refuses
// devices without VIRTIO_F_VERSION_1 and always accepts it. On error the device status is
// FAILED. The caller then sets up its queues and calls [DriverOK].
func Negotiate(t Transport, accept func(offered uint64) uint64) (uint64, error) {
	t.SetStatus(0)
	for i := 0; t.Status() != 0; i++ {
		if i == maxResetPolls {
			t.SetStatus(StatusFailed)
			return 0, fmt.Errorf("%w: reset did not complete", ErrDeviceBroken)
		}
	}
	t.SetStatus(StatusAcknowledge)
	t.SetStatus(StatusAcknowledge | StatusDriver)
	offered := t.DeviceFeatures()
	if offered&FeatureVersion1 == 0 {
		t.SetStatus(StatusAcknowledge | StatusDriver | StatusFailed)
		return 0, fmt.Errorf("%w: VIRTIO_F_VERSION_1 not offered (legacy device)", ErrUnsupported)
	}
	want := (accept(offered) | FeatureVersion1) & offered
	t.SetDriverFeatures(want)
	t.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
	if t.Status()&StatusFeaturesOK == 0 {
		t.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusFailed)
		return 0, ErrFeaturesRejected
	}
	return want, nil
}

// DriverOK completes initialisation (step 8): the device may use the queues from now on.
func DriverOK(t Transport) error {
	t.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK)
	if s := t.Status(); s&StatusDeviceNeedsReset != 0 {
		return ErrNeedsReset
	}
	return nil
}

// Fail sets the FAILED status bit: the driver gave up on the device.
func Fail(t Transport) { t.SetStatus(t.Status() | StatusFailed) }

// maxGenerationRetries bounds ReadConfigConsistent against a device whose generation never
// settles.
const maxGenerationRetries = 64

// ReadConfigConsistent reads len(p) bytes of device configuration at off so that they all come
// from one configuration generation (section 2.5.1): it rereads while the generation counter
// changes, and gives up with an error wrapping [ErrDeviceBroken] after 64 attempts.
func ReadConfigConsistent(t Transport, off uint32, p []byte) error {
	for range maxGenerationRetries {
		before := t.ConfigGeneration()
		t.ReadConfig(off, p)
		if t.ConfigGeneration() == before {
			return nil
		}
	}
	return fmt.Errorf("%w: configuration generation kept changing", ErrDeviceBroken)
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
