package virtio

import (
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The reconnect monitor: it watches the backend connection, takes the link down when the
// backend goes away and, when one listens on the socket again, replays the device set-up so
// that the rings resume where the old backend left them.

// raiseConfig signals a configuration change to the driver.
func (t *vhostUserTransport) raiseConfig() {
	t.isr.Or(2)
	if d := t.attached(); d != nil {
		d.Interrupt()
	}
}

// monitorPoll is how often the connection is checked for a hang-up.
const monitorPoll = 200 * time.Millisecond

// monitor watches the connection for the backend going away (without reading from it, so
// that replies are left to request), takes the link down, and reconnects to the same socket
// when the backend comes back: the rings resume where the backend left them.
func (t *vhostUserTransport) monitor() {
	defer t.monitorWG.Done()
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
		select {
		case <-t.closing:
			return // the hang-up is shutdown's own
		default:
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
// Packed rings resume where the driver says (vhostUserDriver.resumeBase: after the last used
// element in the ring), as shared memory alone cannot tell used elements the driver has taken
// from those it has not.
func (t *vhostUserTransport) reconnect() bool {
	driver := t.attached()
	packed := t.driverFeatures&FeatureRingPacked != 0
	if packed && driver == nil {
		return false
	}
	d := net.Dialer{Timeout: t.timeout}
	nc, err := d.Dial("unix", t.path)
	if err != nil {
		return false
	}
	t.msgMu.Lock()
	select {
	case <-t.closing:
		// shutdown has closed the connection, or will close this one: not a new one.
		t.msgMu.Unlock()
		nc.Close()
		return false
	default:
	}
	old := t.conn
	t.conn = nc.(*net.UnixConn)
	t.msgMu.Unlock()
	old.Close()
	features, err := t.hello()
	negotiated := t.driverFeatures & t.backendFeatures &^ vhuProtocolFeatures
	// The new backend must offer what was negotiated, and protocol features as the old one
	// did: they decide whether rings start disabled.
	if err != nil || features&negotiated != negotiated || (features^t.backendFeatures)&vhuProtocolFeatures != 0 {
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
			b, ok := driver.resumeBase(i)
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
