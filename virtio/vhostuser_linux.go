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

// vhuRequest is a vhost-user message type, of those the frontend sends (QEMU's
// docs/interop/vhost-user.rst).
type vhuRequest uint32

const (
	vhuGetFeatures         vhuRequest = 1
	vhuSetFeatures         vhuRequest = 2
	vhuSetOwner            vhuRequest = 3
	vhuSetMemTable         vhuRequest = 5
	vhuSetVringNum         vhuRequest = 8
	vhuSetVringAddr        vhuRequest = 9
	vhuSetVringBase        vhuRequest = 10
	vhuGetVringBase        vhuRequest = 11
	vhuSetVringKick        vhuRequest = 12
	vhuSetVringCall        vhuRequest = 13
	vhuGetProtocolFeatures vhuRequest = 15
	vhuSetProtocolFeatures vhuRequest = 16
	vhuGetQueueNum         vhuRequest = 17
	vhuSetVringEnable      vhuRequest = 18
	vhuNetSetMTU           vhuRequest = 20
)

var vhuRequestNames = map[vhuRequest]string{
	vhuGetFeatures: "GET_FEATURES", vhuSetFeatures: "SET_FEATURES", vhuSetOwner: "SET_OWNER",
	vhuSetMemTable: "SET_MEM_TABLE", vhuSetVringNum: "SET_VRING_NUM", vhuSetVringAddr: "SET_VRING_ADDR",
	vhuSetVringBase: "SET_VRING_BASE", vhuGetVringBase: "GET_VRING_BASE", vhuSetVringKick: "SET_VRING_KICK",
	vhuSetVringCall: "SET_VRING_CALL", vhuGetProtocolFeatures: "GET_PROTOCOL_FEATURES",
	vhuSetProtocolFeatures: "SET_PROTOCOL_FEATURES", vhuGetQueueNum: "GET_QUEUE_NUM",
	vhuSetVringEnable: "SET_VRING_ENABLE", vhuNetSetMTU: "NET_SET_MTU",
}

// String returns the request's name in the vhost-user specification.
func (r vhuRequest) String() string {
	if n, ok := vhuRequestNames[r]; ok {
		return n
	}
	return fmt.Sprintf("request %d", uint32(r))
}

const (
	vhuVersion   = 1   // flags bits 0-1
	vhuReply     = 0x4 // flags: reply
	vhuNeedReply = 0x8 // flags: acknowledge this message (REPLY_ACK)
	vhuHdrLen    = 12

	// vhuProtocolFeatures is VHOST_USER_F_PROTOCOL_FEATURES (bit 30). When the backend offers
	// it, the frontend negotiates protocol features and acknowledges the bit in SET_FEATURES;
	// its rings then start disabled and are enabled with SET_VRING_ENABLE.
	vhuProtocolFeatures = 1 << 30

	// vhuProtocolSupported are the protocol features this frontend uses.
	vhuProtocolSupported = VhostUserProtocolMQ | VhostUserProtocolReplyAck | VhostUserProtocolNetMTU

	// vhuLocalFeatures are emulated by the frontend itself: vhost-user backends have no
	// configuration space, so MAC and link status come from the frontend's configuration.
	vhuLocalFeatures = NetFMAC | NetFStatus | NetFMTU

	vhuQueueMax = 1024
)

// VhostUser is the virtio-net driver as a vhost-user frontend: the rings and packet buffers
// live in a memfd shared with the backend (identity-mapped: device addresses are the
// frontend's virtual addresses), kicks and interrupts travel over eventfds. It implements
// link.Link through the embedded driver.
type VhostUser struct {
	*Net
	t *vhostUserTransport
}

// DialVhostUser connects to the vhost-user backend listening on the UNIX socket path (for
// example DPDK's net_vhost, QEMU's vhost-user-net backends or a vhost-user switch), sets up a
// virtio-net device over it and returns the driver.
func DialVhostUser(path string, cfg *VhostUserConfig) (*VhostUser, error) {
	var c VhostUserConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MemorySize == 0 {
		c.MemorySize = 16 << 20
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	t, err := newVhostUserTransport(path, &c)
	if err != nil {
		return nil, err
	}
	n, err := NewNet(t, t.arena, c.Net)
	if err != nil {
		t.close()
		if t.setupErr != nil {
			err = fmt.Errorf("%w: %w", err, t.setupErr)
		}
		return nil, err
	}
	t.setHandler(n.Interrupt)
	return &VhostUser{Net: n, t: t}, nil
}

// ProtocolFeatures returns the vhost-user protocol features negotiated with the backend
// (VhostUserProtocol*), zero when the backend offers none.
func (v *VhostUser) ProtocolFeatures() uint64 { return v.t.protocolFeatures() }

// QueuePairs returns the number of queue pairs the backend reported (VhostUserProtocolMQ),
// zero when it did not say.
func (v *VhostUser) QueuePairs() int {
	v.t.msgMu.Lock()
	defer v.t.msgMu.Unlock()
	return v.t.queuePairs
}

// Reconnects returns how many times the frontend reconnected to a restarted backend.
func (v *VhostUser) Reconnects() int64 { return v.t.reconnects.Load() }

// Close stops the driver, stops the backend's rings, closes the connection and unmaps the
// shared memory. It is idempotent.
func (v *VhostUser) Close() error {
	err := v.Net.Close()
	v.t.close()
	return err
}

// vhostUserTransport implements Transport over vhost-user messages.
type vhostUserTransport struct {
	conn    *net.UnixConn
	timeout time.Duration
	mem     []byte
	memfd   int
	arena   *Arena
	backend uint64 // features the backend offers
	driver  uint64
	// protocol holds the negotiated protocol features and queuePairs the backend's queue
	// pairs (VhostUserProtocolMQ), both guarded by msgMu: they change on reconnection.
	protocol   uint64
	queuePairs int
	// setupErr is why the backend did not take the features or the memory table.
	setupErr error
	status   Status
	config   [12]byte
	queues   []*vhuQueue
	handler  func()
	handleMu sync.RWMutex
	wg       sync.WaitGroup
	once     sync.Once
	msgMu    sync.Mutex

	path       string
	linkUp     atomic.Bool
	isr        atomic.Uint32 // pending interrupt bits for AckInterrupt
	closing    chan struct{}
	monitoring bool
	// Reconnects counts successful reconnections to a restarted backend.
	reconnects atomic.Int64
	// resumeBase, set by the driver, says where a packed ring resumes after a reconnection.
	resumeBase func(queue int) (uint32, bool)
}

func (t *vhostUserTransport) setResumeBase(f func(queue int) (uint32, bool)) {
	t.msgMu.Lock()
	t.resumeBase = f
	t.msgMu.Unlock()
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

	if t.backend, err = t.hello(); err != nil {
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

// hello takes ownership of the backend (SET_OWNER), returns its features and, when it offers
// protocol features, negotiates those this frontend uses.
func (t *vhostUserTransport) hello() (uint64, error) {
	t.setProtocol(0, 0)
	if err := t.send(vhuSetOwner, nil); err != nil {
		return 0, err
	}
	features, err := t.requestU64(vhuGetFeatures, nil)
	if err != nil || features&vhuProtocolFeatures == 0 {
		return features, err
	}
	offered, err := t.requestU64(vhuGetProtocolFeatures, nil)
	if err != nil {
		return 0, err
	}
	protocol := offered & vhuProtocolSupported
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], protocol)
	if err := t.send(vhuSetProtocolFeatures, p[:]); err != nil {
		return 0, err
	}
	pairs := 0
	if protocol&VhostUserProtocolMQ != 0 {
		n, err := t.requestU64(vhuGetQueueNum, nil)
		if err != nil {
			return 0, err
		}
		if n == 0 || n > 0x8000 { // virtio-net allows at most 0x8000 pairs
			return 0, fmt.Errorf("%w: vhost-user backend reports %d queue pairs", ErrDeviceBroken, n)
		}
		pairs = int(n)
	}
	t.setProtocol(protocol, pairs)
	return features, nil
}

func (t *vhostUserTransport) setProtocol(protocol uint64, pairs int) {
	t.msgMu.Lock()
	t.protocol, t.queuePairs = protocol, pairs
	t.msgMu.Unlock()
}

// send writes one message with optional file descriptors. Once REPLY_ACK is negotiated it
// asks for the backend's acknowledgement and waits for it.
func (t *vhostUserTransport) send(req vhuRequest, payload []byte, fds ...int) error {
	t.msgMu.Lock()
	defer t.msgMu.Unlock()
	if t.protocol&VhostUserProtocolReplyAck == 0 {
		return t.sendLocked(req, 0, payload, fds...)
	}
	if err := t.sendLocked(req, vhuNeedReply, payload, fds...); err != nil {
		return err
	}
	status, err := t.replyU64Locked(req)
	if err != nil {
		return err
	}
	if status != 0 {
		return fmt.Errorf("%w: %v, status %d", ErrVhostUserRefused, req, status)
	}
	return nil
}

func (t *vhostUserTransport) sendLocked(req vhuRequest, flags uint32, payload []byte, fds ...int) error {
	msg := make([]byte, vhuHdrLen+len(payload))
	binary.LittleEndian.PutUint32(msg[0:], uint32(req))
	binary.LittleEndian.PutUint32(msg[4:], vhuVersion|flags)
	binary.LittleEndian.PutUint32(msg[8:], uint32(len(payload)))
	copy(msg[vhuHdrLen:], payload)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_ = t.conn.SetWriteDeadline(time.Now().Add(t.timeout))
	if _, _, err := t.conn.WriteMsgUnix(msg, oob, nil); err != nil {
		return fmt.Errorf("virtio: vhost-user %v: %w", req, err)
	}
	return nil
}

// request sends a message and reads its reply's payload, checking that it answers it.
func (t *vhostUserTransport) request(req vhuRequest, payload []byte) ([]byte, error) {
	t.msgMu.Lock()
	defer t.msgMu.Unlock()
	if err := t.sendLocked(req, 0, payload); err != nil {
		return nil, err
	}
	return t.replyLocked(req)
}

// requestU64 sends a message whose reply is a u64 and returns it.
func (t *vhostUserTransport) requestU64(req vhuRequest, payload []byte) (uint64, error) {
	t.msgMu.Lock()
	defer t.msgMu.Unlock()
	if err := t.sendLocked(req, 0, payload); err != nil {
		return 0, err
	}
	return t.replyU64Locked(req)
}

// replyLocked reads the reply to req: a header that names req with the reply flag, and at
// most 256 bytes of payload (no reply a frontend asks for is longer).
func (t *vhostUserTransport) replyLocked(req vhuRequest) ([]byte, error) {
	_ = t.conn.SetReadDeadline(time.Now().Add(t.timeout))
	var hdr [vhuHdrLen]byte
	if _, err := readFull(t.conn, hdr[:]); err != nil {
		return nil, fmt.Errorf("virtio: vhost-user reply to %v: %w", req, err)
	}
	r, flags, size := binary.LittleEndian.Uint32(hdr[0:]), binary.LittleEndian.Uint32(hdr[4:]), binary.LittleEndian.Uint32(hdr[8:])
	if r != uint32(req) || flags&vhuReply == 0 || size > 256 {
		return nil, fmt.Errorf("%w: vhost-user reply (request %d flags %#x size %d) to %v",
			ErrDeviceBroken, r, flags, size, req)
	}
	body := make([]byte, size)
	if _, err := readFull(t.conn, body); err != nil {
		return nil, fmt.Errorf("virtio: vhost-user reply to %v: %w", req, err)
	}
	return body, nil
}

// replyU64Locked reads a reply to req whose payload is a u64.
func (t *vhostUserTransport) replyU64Locked(req vhuRequest) (uint64, error) {
	body, err := t.replyLocked(req)
	if err != nil {
		return 0, err
	}
	if len(body) < 8 {
		return 0, fmt.Errorf("%w: vhost-user reply of %d bytes to %v", ErrDeviceBroken, len(body), req)
	}
	return binary.LittleEndian.Uint64(body), nil
}

func readFull(c *net.UnixConn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (t *vhostUserTransport) setHandler(f func()) {
	t.handleMu.Lock()
	t.handler = f
	t.handleMu.Unlock()
}

// callLoop turns call-eventfd signals of one queue into interrupts.
func (t *vhostUserTransport) callLoop(f *os.File) {
	defer t.wg.Done()
	var b [8]byte
	for {
		if _, err := f.Read(b[:]); err != nil {
			return // closed
		}
		t.handleMu.RLock()
		h := t.handler
		t.handleMu.RUnlock()
		if h != nil {
			h()
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
				var st [8]byte
				binary.LittleEndian.PutUint32(st[:], uint32(i))
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
		t.wg.Add(1)
		go t.monitor()
	}
	t.status = s
}

// sendFeatures sends the negotiated features (with the protocol-features bit when the backend
// offers it) and, with VhostUserProtocolNetMTU, the MTU the device reports.
func (t *vhostUserTransport) sendFeatures() error {
	var f [8]byte
	binary.LittleEndian.PutUint64(f[:], t.driver&t.backend&^vhuProtocolFeatures|t.backend&vhuProtocolFeatures)
	if err := t.send(vhuSetFeatures, f[:]); err != nil {
		return err
	}
	if t.protocolFeatures()&VhostUserProtocolNetMTU == 0 || t.driver&NetFMTU == 0 {
		return nil
	}
	binary.LittleEndian.PutUint64(f[:], uint64(binary.LittleEndian.Uint16(t.config[netConfigMTUOff:])))
	return t.send(vhuNetSetMTU, f[:])
}

func (t *vhostUserTransport) protocolFeatures() uint64 {
	t.msgMu.Lock()
	defer t.msgMu.Unlock()
	return t.protocol
}

func (t *vhostUserTransport) sendMemTable() error {
	var p [8 + 32]byte
	binary.LittleEndian.PutUint32(p[0:], 1) // one region
	base := t.arena.Base()
	binary.LittleEndian.PutUint64(p[8:], base)                // guest_phys_addr
	binary.LittleEndian.PutUint64(p[16:], uint64(len(t.mem))) // memory_size
	binary.LittleEndian.PutUint64(p[24:], base)               // userspace_addr
	binary.LittleEndian.PutUint64(p[32:], 0)                  // mmap_offset
	return t.send(vhuSetMemTable, p[:], t.memfd)
}

// DeviceFeatures implements [Transport]: the backend's features without the protocol
// feature bit, plus the configuration features the frontend emulates.
func (t *vhostUserTransport) DeviceFeatures() uint64 {
	return t.backend&^(vhuProtocolFeatures|NetFCtrlVQ|NetFMQ) | vhuLocalFeatures
}

// SetDriverFeatures implements [Transport].
func (t *vhostUserTransport) SetDriverFeatures(f uint64) { t.driver = f }

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
	if t.driver&FeatureRingPacked != 0 {
		base = 0x80008000 // both wrap counters 1
	}
	t.wg.Add(1)
	go t.callLoop(q.call)
	return t.startRing(i, base)
}

// startRing sends a queue's ring configuration and its eventfds; the kick fd starts it.
func (t *vhostUserTransport) startRing(i int, base uint32) error {
	q := t.queues[i]
	var st [8]byte
	binary.LittleEndian.PutUint32(st[0:], uint32(i))
	binary.LittleEndian.PutUint32(st[4:], uint32(q.size))
	if err := t.send(vhuSetVringNum, st[:]); err != nil {
		return err
	}
	desc, driver, device := q.desc, q.driver, q.device
	binary.LittleEndian.PutUint32(st[4:], base)
	if err := t.send(vhuSetVringBase, st[:]); err != nil {
		return err
	}
	var addr [40]byte
	binary.LittleEndian.PutUint32(addr[0:], uint32(i))
	binary.LittleEndian.PutUint64(addr[8:], desc)
	binary.LittleEndian.PutUint64(addr[16:], device) // used
	binary.LittleEndian.PutUint64(addr[24:], driver) // avail
	if err := t.send(vhuSetVringAddr, addr[:]); err != nil {
		return err
	}
	var idx [8]byte
	binary.LittleEndian.PutUint64(idx[:], uint64(i))
	if err := t.send(vhuSetVringCall, idx[:], int(q.call.Fd())); err != nil {
		return err
	}
	if err := t.send(vhuSetVringKick, idx[:], int(q.kick.Fd())); err != nil {
		return err
	}
	if t.backend&vhuProtocolFeatures == 0 {
		return nil // the ring is enabled once started
	}
	binary.LittleEndian.PutUint32(st[4:], 1)
	return t.send(vhuSetVringEnable, st[:])
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

// raiseConfig signals a configuration change to the driver.
func (t *vhostUserTransport) raiseConfig() {
	t.isr.Or(2)
	t.handleMu.RLock()
	h := t.handler
	t.handleMu.RUnlock()
	if h != nil {
		h()
	}
}

// monitorPoll is how often the connection is checked for a hang-up.
const monitorPoll = 200 * time.Millisecond

// monitor watches the connection for the backend going away (without reading from it, so
// that replies are left to request), takes the link down, and reconnects to the same socket
// when the backend comes back: the rings resume where the backend left them.
func (t *vhostUserTransport) monitor() {
	defer t.wg.Done()
	for {
		select {
		case <-t.closing:
			return
		default:
		}
		t.msgMu.Lock()
		c := t.conn
		t.msgMu.Unlock()
		if !hungUp(c) {
			continue
		}
		t.linkUp.Store(false)
		t.raiseConfig()
		for !t.reconnect() {
			select {
			case <-t.closing:
				return
			case <-time.After(monitorPoll):
			}
		}
		t.reconnects.Add(1)
		t.linkUp.Store(true)
		t.raiseConfig()
	}
}

// hungUp waits up to monitorPoll for c to report a hang-up.
func hungUp(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	hup := false
	cerr := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(fds, int(monitorPoll/time.Millisecond)); err == nil && n > 0 {
			hup = fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
		}
	})
	return hup || cerr != nil
}

// reconnect dials the socket again and replays the device setup. Split rings resume at the
// used index in shared memory: everything after it is still available to the new backend.
// Packed rings resume where the driver says (Net's resumeBase: after the last used element
// in the ring), as shared memory alone cannot tell used elements the driver has taken from
// those it has not.
func (t *vhostUserTransport) reconnect() bool {
	t.msgMu.Lock()
	resume := t.resumeBase
	t.msgMu.Unlock()
	packed := t.driver&FeatureRingPacked != 0
	if packed && resume == nil {
		return false
	}
	d := net.Dialer{Timeout: t.timeout}
	nc, err := d.Dial("unix", t.path)
	if err != nil {
		return false
	}
	t.msgMu.Lock()
	old := t.conn
	t.conn = nc.(*net.UnixConn)
	t.msgMu.Unlock()
	old.Close()
	features, err := t.hello()
	negotiated := t.driver & t.backend &^ vhuProtocolFeatures
	// The new backend must offer what was negotiated, and protocol features as the old one
	// did: they decide whether rings start disabled.
	if err != nil || features&negotiated != negotiated || (features^t.backend)&vhuProtocolFeatures != 0 {
		return false
	}
	if t.sendFeatures() != nil || t.sendMemTable() != nil {
		return false
	}
	for i, q := range t.queues {
		if !q.enabled {
			continue
		}
		var base uint32
		if packed {
			b, ok := resume(i)
			if !ok {
				return false
			}
			base = b
		} else {
			used, ok := t.arena.Slice(q.device, 4)
			if !ok {
				return false
			}
			base = atomic.LoadUint32(word(used, 0)) >> 16
		}
		if t.startRing(i, base) != nil {
			return false
		}
	}
	// Buffers made available while the backend was away need a kick.
	for i := range t.queues {
		t.Notify(i, uint32(i))
	}
	return true
}

func (t *vhostUserTransport) close() {
	t.once.Do(func() {
		close(t.closing)
		t.msgMu.Lock()
		if t.conn != nil {
			t.conn.Close()
		}
		t.msgMu.Unlock()
		for _, q := range t.queues {
			q.kick.Close()
			q.call.Close()
		}
		t.wg.Wait()
		if t.mem != nil {
			_ = unix.Munmap(t.mem)
		}
		if t.memfd >= 0 {
			unix.Close(t.memfd)
		}
	})
}
