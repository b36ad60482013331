package virtio

import (
	"errors"
	"fmt"
)

// The driver side of device initialisation (VIRTIO 1.2 section 3.1), common to every device
// type and transport: status handshake, feature negotiation and consistent configuration
// reads.

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
