package virtio

import (
	"context"
	"encoding/binary"
	"runtime"
	"runtime/trace"
	"time"

	"github.com/unikit/unikit/netstack/link"
)

// Start implements [link.Link]: it starts the goroutine that reaps the receive queue. It
// returns [link.ErrNilReceiver] for a nil r, [link.ErrClosed] after Close and
// [link.ErrStarted] if the link was started before.
func (n *Net) Start(r link.Receiver) error {
	if r == nil {
		return link.ErrNilReceiver
	}
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.closed.Load() {
		return link.ErrClosed
	}
	if n.started {
		return link.ErrStarted
	}
	n.started = true
	n.coalesceOn.Store(n.coalesce)
	go n.loop(r, n.Up())
	return nil
}

// loop delivers received frames and configuration changes until Close. wasUp is the link
// state when Start returned: a change after it reaches r even if it comes before loop runs.
func (n *Net) loop(r link.Receiver, wasUp bool) {
	defer close(n.exited)
	var pollUntil time.Time // while polling (BusyPoll), when to stop; zero when not polling
	for {
		n.flushTxKick()
		if n.configChanged.Swap(false) {
			n.checkConfig()
		}
		if up := n.Up(); up != wasUp {
			wasUp = up
			r.LinkStateChanged(up)
		}
		if k := n.reapRx(pollUntil.IsZero()); k > 0 {
			region := trace.StartRegion(context.Background(), traceRx)
			r.DeliverFrames(n.frames[:k])
			region.End()
			clear(n.frames[:k])
			if n.busyPoll > 0 {
				pollUntil = time.Now().Add(n.busyPoll)
			}
			continue
		}
		if !pollUntil.IsZero() {
			// Polling: let the stack and the application run (what they send may well bring
			// the next frames) and look again, unarmed, until the time is up; then once more
			// armed, before sleeping.
			if time.Now().After(pollUntil) {
				pollUntil = time.Time{}
			}
			select {
			case <-n.done:
				return
			default:
			}
			runtime.Gosched()
			continue
		}
		select {
		case <-n.irq:
		case <-n.kick:
			runtime.Gosched() // let the goroutines ready to transmit add their frames
		case <-n.done:
			return
		}
	}
}

// Interrupt is the driver's interrupt handler: the runtime (or the device model) calls it when
// the device raises its interrupt. It acknowledges the interrupt and wakes the driver's
// goroutines; it does not block or allocate and may be called from any goroutine.
func (n *Net) Interrupt() {
	if s := n.t.AckInterrupt(); s&2 != 0 {
		n.configChanged.Store(true)
	}
	n.wake()
}

func (n *Net) wake() {
	select {
	case n.irq <- struct{}{}:
	default:
	}
	select {
	case n.txWake <- struct{}{}:
	default:
	}
}

// checkConfig handles a configuration change interrupt: DEVICE_NEEDS_RESET and link status.
func (n *Net) checkConfig() {
	if n.t.Status()&StatusDeviceNeedsReset != 0 {
		n.fail(ErrNeedsReset)
		return
	}
	if n.features&NetFStatus != 0 {
		var b [2]byte
		if err := ReadConfigConsistent(n.t, netConfigStatOff, b[:]); err != nil {
			n.fail(err)
			return
		}
		n.up.Store(binary.LittleEndian.Uint16(b[:])&netStatusLinkUp != 0)
	}
}

// Up implements [link.Link]: the device's link status, false after a failure or Close.
func (n *Net) Up() bool { return n.up.Load() && n.failure.Load() == nil && !n.closed.Load() }

// Err returns the error that moved the driver to its failed state, or nil.
func (n *Net) Err() error {
	if p := n.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first failure, marks the device FAILED and wakes everyone.
func (n *Net) fail(err error) {
	if n.failure.CompareAndSwap(nil, &err) {
		Fail(n.t)
		n.wake()
	}
}

// Close implements [link.Link]: it stops the receive goroutine, wakes blocked
// transmitters and resets the device, after which the device no longer touches the driver's
// memory. It is idempotent.
func (n *Net) Close() error {
	n.closeOnce.Do(func() {
		n.startMu.Lock()
		n.closed.Store(true)
		started := n.started
		n.startMu.Unlock()
		close(n.done)
		if started {
			<-n.exited
		}
		// With both queue locks held no Transmit or Release is touching the rings, and none
		// will after this: they check closed under the same locks.
		n.txMu.Lock()
		n.rxMu.Lock()
		n.t.SetStatus(0)
		n.rxMu.Unlock()
		n.txMu.Unlock()
	})
	return nil
}

// afterLent runs f once the link is closed and every frame it lent has been released: at once
// when none is lent, otherwise from the Release that gives back the last. A transport whose
// memory goes away when it closes (the vhost-user mapping) frees it through f, so that a frame
// lent before Close stays readable until its release, as the contract promises. It is called
// after Close; a later call replaces f.
func (n *Net) afterLent(f func()) {
	n.rxMu.Lock()
	if n.rxLentN > 0 {
		n.rxDrained = f
		n.rxMu.Unlock()
		return
	}
	n.rxDrained = nil
	n.rxMu.Unlock()
	f()
}

// resumeBase returns where queue resumes with a new device, for packed rings (see
// [PackedQueue.ResumeBase]); ok is false for split rings, whose used index in shared memory
// says it. A transport whose device can be replaced under a running driver asks it: the
// vhost-user transport, through vhostUserDriver, when it reconnects to a restarted backend.
func (n *Net) resumeBase(queue int) (uint32, bool) {
	var q Virtqueue
	switch queue {
	case NetRxQueue:
		n.rxMu.Lock()
		defer n.rxMu.Unlock()
		q = n.rx
	case NetTxQueue:
		n.txMu.Lock()
		defer n.txMu.Unlock()
		q = n.tx
	default:
		return 0, false
	}
	p, ok := q.(*PackedQueue)
	if !ok {
		return 0, false
	}
	return p.ResumeBase(), true
}
