package virtiotest

import (
	"sync"
	"sync/atomic"

	"github.com/unikit/unikit/virtio"
)

// Device is the transport-independent state of a modelled virtio device: features, status,
// configuration space and queues. [Device.MMIO] and [Device.PCIConfig]/[Device.BAR] expose it
// through a register interface. Its methods are safe for concurrent use.
type Device struct {
	mem *virtio.Arena
	id  uint32

	mu         sync.Mutex
	offered    uint64
	driverFeat uint64
	dfSel      uint32
	gfSel      uint32
	status     uint8
	config     []byte
	generation uint32
	churn      int // generation reads that still bump the generation
	queueSel   uint32
	queues     []*Queue
	isr        uint32
	rejectFeat bool
	pciCfg     [256]byte
	// queuesFor, if set, gives the number of queues the device has with the driver's
	// features (at most len(queues)); nil means all of them, whatever was negotiated.
	queuesFor func(driverFeat uint64) int

	irq        atomic.Pointer[func()]
	onNotify   func(q int)
	onDriverOK func()
	onReset    func()
	brokenErr  atomic.Pointer[error]
}

// NewDevice returns a device of type id with the given offered features, configuration space
// and queues of at most queueMax entries each, reading and writing driver memory in mem.
func NewDevice(mem *virtio.Arena, id uint32, offered uint64, config []byte, queues, queueMax int) *Device {
	d := &Device{mem: mem, id: id, offered: offered, config: append([]byte(nil), config...)}
	for i := range queues {
		d.queues = append(d.queues, &Queue{dev: d, index: i, max: queueMax})
	}
	d.initPCIConfig()
	return d
}

// SetInterrupt sets the function the device calls to raise its interrupt: the driver's
// interrupt handler. It is called from the device's goroutines without locks held.
func (d *Device) SetInterrupt(f func()) { d.irq.Store(&f) }

// Queue returns the device side of queue i.
func (d *Device) Queue(i int) *Queue { return d.queues[i] }

// Status returns the device status.
func (d *Device) Status() virtio.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return virtio.Status(d.status)
}

// DriverFeatures returns the features the driver wrote.
func (d *Device) DriverFeatures() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.driverFeat
}

// Err returns why the device model set DEVICE_NEEDS_RESET on its own (a driver error), or nil.
func (d *Device) Err() error {
	if p := d.brokenErr.Load(); p != nil {
		return *p
	}
	return nil
}

// raise sets interrupt status bits and calls the interrupt handler.
func (d *Device) raise(bits uint32) {
	d.mu.Lock()
	d.isr |= bits
	d.mu.Unlock()
	if f := d.irq.Load(); f != nil {
		(*f)()
	}
}

// SetConfig writes b into the configuration space at off, bumps the generation counter and
// raises a configuration change interrupt.
func (d *Device) SetConfig(off int, b []byte) {
	d.mu.Lock()
	copy(d.config[off:], b)
	d.generation++
	d.mu.Unlock()
	d.raise(2)
}

// ChurnGeneration makes the next n reads of the generation counter each return a new value,
// as if the configuration changed during every read.
func (d *Device) ChurnGeneration(n int) {
	d.mu.Lock()
	d.churn = n
	d.mu.Unlock()
}

// RejectFeatures makes the device refuse FEATURES_OK.
func (d *Device) RejectFeatures(reject bool) {
	d.mu.Lock()
	d.rejectFeat = reject
	d.mu.Unlock()
}

// NeedsReset sets DEVICE_NEEDS_RESET and raises a configuration change interrupt, as a device
// does after an internal error (section 2.1.2).
func (d *Device) NeedsReset() {
	d.mu.Lock()
	d.status |= uint8(virtio.StatusDeviceNeedsReset)
	d.mu.Unlock()
	d.raise(2)
}

// fail records a driver error found by the device and sets DEVICE_NEEDS_RESET.
func (d *Device) fail(err error) {
	if d.brokenErr.CompareAndSwap(nil, &err) {
		d.NeedsReset()
	}
}

func (d *Device) readGeneration() uint32 {
	if d.churn > 0 {
		d.churn--
		d.generation++
	}
	return d.generation
}

func (d *Device) readConfig(off uint32, n int) uint32 {
	var v uint32
	for i := n - 1; i >= 0; i-- {
		v <<= 8
		if o := uint64(off) + uint64(i); o < uint64(len(d.config)) {
			v |= uint32(d.config[o])
		}
	}
	return v
}

func (d *Device) deviceFeatures() uint32 {
	switch d.dfSel {
	case 0:
		return uint32(d.offered)
	case 1:
		return uint32(d.offered >> 32)
	}
	return 0
}

func (d *Device) setDriverFeatures(v uint32) {
	switch d.gfSel {
	case 0:
		d.driverFeat = d.driverFeat&^0xffffffff | uint64(v)
	case 1:
		d.driverFeat = d.driverFeat&0xffffffff | uint64(v)<<32
	}
}

// setStatus handles a status write; it returns the callback to run after unlocking.
func (d *Device) setStatus(v uint8) func() {
	if v == 0 {
		d.status = 0
		d.driverFeat = 0
		d.isr = 0
		for _, q := range d.queues {
			q.reset()
		}
		return d.onReset
	}
	old := d.status
	if v&uint8(virtio.StatusFeaturesOK) != 0 && old&uint8(virtio.StatusFeaturesOK) == 0 {
		if d.rejectFeat || d.driverFeat&^d.offered != 0 || d.driverFeat&virtio.FeatureVersion1 == 0 {
			v &^= uint8(virtio.StatusFeaturesOK)
		}
	}
	d.status = v | old&uint8(virtio.StatusDeviceNeedsReset)
	if v&uint8(virtio.StatusDriverOK) != 0 && old&uint8(virtio.StatusDriverOK) == 0 {
		return d.onDriverOK
	}
	return nil
}

// numQueues returns the number of queues the device has now. Called with d.mu held.
func (d *Device) numQueues() int {
	if d.queuesFor != nil {
		return min(d.queuesFor(d.driverFeat), len(d.queues))
	}
	return len(d.queues)
}

func (d *Device) selected() *Queue {
	if int(d.queueSel) < d.numQueues() {
		return d.queues[d.queueSel]
	}
	return nil
}

func (d *Device) notify(q uint32) {
	if int(q) < len(d.queues) {
		d.queues[q].notifications.Add(1)
	}
	if int(q) < len(d.queues) && d.onNotify != nil {
		d.onNotify(int(q))
	}
}

// enableQueue maps q's areas, laid out as the negotiated features say, when the driver sets
// it ready; q stays not ready if they are outside memory or misaligned. Called with d.mu held.
func (d *Device) enableQueue(q *Queue) {
	if err := q.enable(d.driverFeat&virtio.FeatureEventIdx != 0, d.driverFeat&virtio.FeatureRingPacked != 0); err == nil {
		q.ready = true
	}
}
