package virtio

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unikit/unikit/netstack/link"
	"golang.org/x/sys/unix"
)

const (
	// vhuLocalFeatures are emulated by the frontend itself: vhost-user backends have no
	// configuration space, so MAC and link status come from the frontend's configuration.
	vhuLocalFeatures = NetFMAC | NetFStatus | NetFMTU

	vhuQueueMax = 1024
)

// vhostUserTransport implements Transport over vhost-user messages: the device status and
// configuration are the frontend's own, the features, memory table and rings are sent to the
// backend, kicks and calls travel over eventfds.
type vhostUserTransport struct {
	conn            *net.UnixConn // guarded by msgMu: a reconnection replaces it
	timeout         time.Duration
	mem             []byte
	memfd           int
	arena           *Arena
	backendFeatures uint64 // features the backend offers
	driverFeatures  uint64 // features the driver accepted
	// protocol holds the negotiated protocol features and queuePairs the backend's queue
	// pairs (VhostUserProtocolMQ), both guarded by msgMu: they change on reconnection.
	protocol   uint64
	queuePairs int
	// setupErr is why the backend did not take the features or the memory table.
	setupErr error
	status   Status
	config   [12]byte
	queues   []*vhuQueue
	// driver is the driver this transport carries, attached by DialVhostUser; nil before.
	driver   vhostUserDriver
	driverMu sync.RWMutex
	wg       sync.WaitGroup // the call loops
	// monitorWG is the reconnect monitor, which shutdown waits for before it closes the
	// eventfds a reconnection sends.
	monitorWG sync.WaitGroup
	once      sync.Once // shutdown
	// unmapOnce guards unmap, which may come long after shutdown.
	unmapOnce sync.Once
	msgMu     sync.Mutex

	path       string
	linkUp     atomic.Bool
	isr        atomic.Uint32 // pending interrupt bits for AckInterrupt
	closing    chan struct{}
	monitoring bool
	// Reconnects counts successful reconnections to a restarted backend.
	reconnects atomic.Int64
}

// vhostUserDriver is the driver a vhost-user transport carries, as the transport calls back
// into it; [Net] implements it. The transport owns this seam: DialVhostUser attaches the
// driver with attach once NewNet has set the device up. Until then the backend's calls and
// link changes reach no driver (a started driver reaps its queues before it first waits),
// and the reconnection of packed rings waits for one.
type vhostUserDriver interface {
	// Interrupt is the driver's interrupt handler: the transport calls it when the backend
	// signals a call eventfd and when the link goes down or up (a configuration change).
	Interrupt()
	// resumeBase returns where the driver's queue resumes with a restarted backend, for
	// packed rings, in the layout of SET_VRING_BASE; ok is false for split rings, whose used
	// index in shared memory says it.
	resumeBase(queue int) (base uint32, ok bool)
}

var _ vhostUserDriver = (*Net)(nil)

// attach makes d the driver the transport calls back into.
func (t *vhostUserTransport) attach(d vhostUserDriver) {
	t.driverMu.Lock()
	t.driver = d
	t.driverMu.Unlock()
}

// attached returns the attached driver, or nil.
func (t *vhostUserTransport) attached() vhostUserDriver {
	t.driverMu.RLock()
	defer t.driverMu.RUnlock()
	return t.driver
}

type vhuQueue struct {
	kick, call *os.File
	one        [8]byte

	enabled              bool
	size                 int
	desc, driver, device uint64
}

func newVhostUserTransport(path string, c *VhostUserConfig) (t *vhostUserTransport, err error) {
	t = &vhostUserTransport{timeout: c.Timeout, memfd: -1, path: path, closing: make(chan struct{})}
	t.linkUp.Store(true)
	// The error returns below set the named result t to nil; close the transport built here.
	built := t
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	d := net.Dialer{Timeout: c.Timeout}
	nc, err := d.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("virtio: vhost-user: %w", err)
	}
	t.conn = nc.(*net.UnixConn)
	if t.memfd, err = unix.MemfdCreate("unikit-virtio", unix.MFD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("virtio: memfd_create: %w", err)
	}
	size := (c.MemorySize + 0xfff) &^ 0xfff
	if err = unix.Ftruncate(t.memfd, int64(size)); err != nil {
		return nil, fmt.Errorf("virtio: ftruncate: %w", err)
	}
	if t.mem, err = unix.Mmap(t.memfd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("virtio: mmap: %w", err)
	}
	base := uint64(uintptrOf(t.mem))
	t.arena = NewArenaOver(t.mem, base)

	mac := c.MAC
	if len(mac) != 6 {
		mac = link.RandomMAC()
	}
	copy(t.config[0:6], mac)
	binary.LittleEndian.PutUint16(t.config[netConfigPairsOff:], 1)
	binary.LittleEndian.PutUint16(t.config[netConfigMTUOff:], uint16(c.MTU))

	if t.backendFeatures, err = t.hello(); err != nil {
		return nil, err
	}
	for range 2 {
		q := &vhuQueue{}
		binary.LittleEndian.PutUint64(q.one[:], 1)
		for _, f := range []**os.File{&q.kick, &q.call} {
			fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				return nil, fmt.Errorf("virtio: eventfd: %w", err)
			}
			*f = os.NewFile(uintptr(fd), "eventfd") // non-blocking: reads use the poller
		}
		t.queues = append(t.queues, q)
	}
	return t, nil
}

// callLoop turns call-eventfd signals of one queue into interrupts.
func (t *vhostUserTransport) callLoop(f *os.File) {
	defer t.wg.Done()
	var b [8]byte
	for {
		if _, err := f.Read(b[:]); err != nil {
			return // closed
		}
		if d := t.attached(); d != nil {
			d.Interrupt()
		}
	}
}

// DeviceID implements [Transport].
func (t *vhostUserTransport) DeviceID() uint32 { return DeviceNet }

// Status implements [Transport]: the status is the frontend's own.
func (t *vhostUserTransport) Status() Status { return t.status }

// SetStatus implements [Transport]. FEATURES_OK sends SET_FEATURES and the memory table;
// 0 stops the rings (GET_VRING_BASE).
func (t *vhostUserTransport) SetStatus(s Status) {
	old := t.status
	if s == 0 {
		if old&StatusDriverOK != 0 && t.linkUp.Load() {
			for i := range t.queues {
				st := vhuVringState(i, 0)
				_, _ = t.request(vhuGetVringBase, st[:])
			}
		}
		t.status = 0
		return
	}
	if s&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 {
		err := t.sendFeatures()
		if err == nil {
			err = t.sendMemTable()
		}
		if err != nil {
			t.setupErr = err // the Transport interface has no error here; DialVhostUser reports it
			s &^= StatusFeaturesOK
		}
	}
	if s&StatusDriverOK != 0 && !t.monitoring {
		t.monitoring = true
		t.monitorWG.Add(1)
		go t.monitor()
	}
	t.status = s
}

// sendFeatures sends the negotiated features (with the protocol-features bit when the backend
// offers it) and, with VhostUserProtocolNetMTU, the MTU the device reports.
func (t *vhostUserTransport) sendFeatures() error {
	f := vhuU64(t.driverFeatures&t.backendFeatures&^vhuProtocolFeatures | t.backendFeatures&vhuProtocolFeatures)
	if err := t.send(vhuSetFeatures, f[:]); err != nil {
		return err
	}
	if t.protocolFeatures()&VhostUserProtocolNetMTU == 0 || t.driverFeatures&NetFMTU == 0 {
		return nil
	}
	mtu := vhuU64(uint64(binary.LittleEndian.Uint16(t.config[netConfigMTUOff:])))
	return t.send(vhuNetSetMTU, mtu[:])
}

// sendMemTable shares the whole memfd with the backend, mapped at the frontend's addresses.
func (t *vhostUserTransport) sendMemTable() error {
	p := vhuMemTable(t.arena.Base(), uint64(len(t.mem)))
	return t.send(vhuSetMemTable, p[:], t.memfd)
}

// DeviceFeatures implements [Transport]: the backend's features without the protocol
// feature bit, plus the configuration features the frontend emulates.
func (t *vhostUserTransport) DeviceFeatures() uint64 {
	return t.backendFeatures&^(vhuProtocolFeatures|NetFCtrlVQ|NetFMQ) | vhuLocalFeatures
}

// SetDriverFeatures implements [Transport].
func (t *vhostUserTransport) SetDriverFeatures(f uint64) { t.driverFeatures = f }

// ConfigGeneration implements [Transport].
func (t *vhostUserTransport) ConfigGeneration() uint32 { return 0 }

// ReadConfig implements [Transport] from the frontend's own configuration; the link is up
// while the backend is connected.
func (t *vhostUserTransport) ReadConfig(off uint32, p []byte) {
	cfg := t.config
	if t.linkUp.Load() {
		binary.LittleEndian.PutUint16(cfg[netConfigStatOff:], netStatusLinkUp)
	}
	clear(p)
	if int(off) < len(cfg) {
		copy(p, cfg[off:])
	}
}

// NumQueues implements [Transport].
func (t *vhostUserTransport) NumQueues() int { return len(t.queues) }

// QueueMax implements [Transport].
func (t *vhostUserTransport) QueueMax(i int) int {
	if i < len(t.queues) {
		return vhuQueueMax
	}
	return 0
}

// EnableQueue implements [Transport]: SET_VRING_NUM, _BASE, _ADDR, _CALL and _KICK, which
// starts the ring, and with protocol features SET_VRING_ENABLE.
func (t *vhostUserTransport) EnableQueue(i, size int, desc, driver, device uint64) error {
	if i >= len(t.queues) {
		return fmt.Errorf("virtio: vhost-user queue %d", i)
	}
	q := t.queues[i]
	q.enabled, q.size, q.desc, q.driver, q.device = true, size, desc, driver, device
	base := uint32(0)
	if t.driverFeatures&FeatureRingPacked != 0 {
		base = 0x80008000 // both wrap counters 1
	}
	t.wg.Add(1)
	go t.callLoop(q.call)
	return t.startRing(i, base)
}

// startRing sends a queue's ring configuration and its eventfds; the kick fd starts it.
func (t *vhostUserTransport) startRing(i int, base uint32) error {
	q := t.queues[i]
	num := vhuVringState(i, uint32(q.size))
	if err := t.send(vhuSetVringNum, num[:]); err != nil {
		return err
	}
	st := vhuVringState(i, base)
	if err := t.send(vhuSetVringBase, st[:]); err != nil {
		return err
	}
	addr := vhuVringAddr(i, q.desc, q.device, q.driver)
	if err := t.send(vhuSetVringAddr, addr[:]); err != nil {
		return err
	}
	idx := vhuU64(uint64(i))
	if err := t.send(vhuSetVringCall, idx[:], int(q.call.Fd())); err != nil {
		return err
	}
	if err := t.send(vhuSetVringKick, idx[:], int(q.kick.Fd())); err != nil {
		return err
	}
	if t.backendFeatures&vhuProtocolFeatures == 0 {
		return nil // the ring is enabled once started
	}
	enable := vhuVringState(i, 1)
	return t.send(vhuSetVringEnable, enable[:])
}

// Notify implements [Transport]: a write to the queue's kick eventfd. It does not allocate.
func (t *vhostUserTransport) Notify(i int, _ uint32) {
	if i < len(t.queues) {
		q := t.queues[i]
		_, _ = unix.Write(int(q.kick.Fd()), q.one[:])
	}
}

// AckInterrupt implements [Transport]: call eventfds signal used buffers; a lost or restored
// backend connection is a configuration change (link status).
func (t *vhostUserTransport) AckInterrupt() uint32 { return t.isr.Swap(0) | 1 }

// close shuts the transport down and unmaps the shared memory: for a transport no driver has
// lent frames from.
func (t *vhostUserTransport) close() {
	t.shutdown()
	t.unmap()
}

// shutdown closes the connection and the eventfds and waits for the transport's goroutines;
// the shared memory stays mapped (see unmap). It is idempotent. The monitor ends before the
// eventfds close: it sees closing before it reconnects, and a reconnection under way fails
// on the closed connection.
func (t *vhostUserTransport) shutdown() {
	t.once.Do(func() {
		close(t.closing)
		t.msgMu.Lock()
		if t.conn != nil {
			t.conn.Close()
		}
		t.msgMu.Unlock()
		t.monitorWG.Wait()
		for _, q := range t.queues {
			q.kick.Close()
			q.call.Close()
		}
		t.wg.Wait()
		if t.memfd >= 0 {
			unix.Close(t.memfd) // the mapping keeps the memory
		}
	})
}

// unmap unmaps the shared memory, once nothing refers to it any more: neither the backend
// (shutdown) nor a frame the driver lent. It is idempotent.
func (t *vhostUserTransport) unmap() {
	t.unmapOnce.Do(func() {
		if t.mem != nil {
			_ = unix.Munmap(t.mem)
		}
	})
}
