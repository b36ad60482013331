package usernet

import (
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"
)

// epollPoller is a Network's own epoll instance, on which parked host connections wait
// (kernelConn): one goroutine waits on it for all of them, where Go's poller would need a
// goroutine blocked on each. Each registration is one-shot and removed as it fires, so that
// regs holds exactly the pending notifications.
//
// The same socket stays registered, edge-triggered, with the runtime's own epoll instance,
// which reports its events too (epoll(7)): harmless, as nothing waits there while the
// connection is parked. A socket closed while registered would leave the registration in
// place for as long as another descriptor of it lived (a fork's, say), and its number may be
// reused at once: a kernelConn therefore removes its registration, under mu, before it
// closes, and an event carries its registration's generation besides the descriptor, so that
// one read from the instance before that removal fires nothing for a later registration of
// the same number.
type epollPoller struct {
	log *slog.Logger
	// epfd is the epoll instance; wakefd an eventfd registered on it, written by Close to end
	// the goroutine's wait. The goroutine closes both as it returns.
	epfd, wakefd int

	mu      sync.Mutex
	stopped bool
	gen     uint32                // the last registration's generation; 0 marks wakefd
	regs    map[int32]*kernelConn // by descriptor, each parked connection
}

// epollEvents are the events a parked connection waits for: data, the peer's shutdown of its
// side, and (always reported) errors and hang-up; one-shot.
const epollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// epollBatch is how many events one wait takes.
const epollBatch = 128

func newEpollPoller(log *slog.Logger) (*epollPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, err
	}
	return &epollPoller{log: log, epfd: epfd, wakefd: wakefd, regs: make(map[int32]*kernelConn)}, nil
}

// notifyReadable registers c to call fn once readable; it calls fn at once when c or the
// poller is closed, or the registration fails (the relay then reads on).
func (p *epollPoller) notifyReadable(c *kernelConn, fn func()) {
	p.mu.Lock()
	if p.stopped || c.closed {
		p.mu.Unlock()
		fn()
		return
	}
	if p.gen++; p.gen == 0 {
		p.gen = 1
	}
	c.ev = unix.EpollEvent{Events: epollEvents, Fd: c.fd, Pad: int32(p.gen)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &c.ev); err != nil {
		p.mu.Unlock()
		p.log.Warn("usernet: parking a relayed connection", "err", err)
		fn()
		return
	}
	c.gen, c.fn = p.gen, fn
	p.regs[c.fd] = c
	p.mu.Unlock()
}

// take removes the registration of fd with generation gen and returns its function, or nil
// if that registration is gone.
func (p *epollPoller) take(fd int32, gen uint32) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.regs[fd]
	if c == nil || c.gen != gen {
		return nil
	}
	return p.removeLocked(c)
}

// forget marks c closed and removes its registration, if any, before c's socket is closed;
// it returns the function to call once it is.
func (p *epollPoller) forget(c *kernelConn) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.closed = true
	if p.regs[c.fd] != c {
		return nil
	}
	return p.removeLocked(c)
}

// removeLocked removes c's registration and returns its function.
func (p *epollPoller) removeLocked(c *kernelConn) func() {
	delete(p.regs, c.fd)
	if !p.stopped {
		// Disabled once it fired, but still on the interest list until removed.
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
	fn := c.fn
	c.fn = nil
	return fn
}

// run waits for the registered connections' events and calls their functions, until Close.
func (p *epollPoller) run() {
	events := make([]unix.EpollEvent, epollBatch)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil && err != unix.EINTR {
			p.log.Error("usernet: waiting on parked connections", "err", err)
			p.Close()
		}
		for _, ev := range events[:max(n, 0)] {
			if ev.Pad == 0 {
				continue // wakefd: Close
			}
			if fn := p.take(ev.Fd, uint32(ev.Pad)); fn != nil {
				fn()
			}
		}
		if p.finished() {
			return
		}
	}
}

// finished closes the instance once Close has stopped the poller, and reports whether it did.
func (p *epollPoller) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		return false
	}
	unix.Close(p.wakefd)
	unix.Close(p.epfd)
	return true
}

// Close stops the poller: it wakes the registered connections, as their closing will (the
// relays read on and fail), ends the goroutine's wait, and refuses registrations from then
// on. The goroutine closes the instance.
func (p *epollPoller) Close() error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	fns := make([]func(), 0, len(p.regs))
	for _, c := range p.regs {
		fns = append(fns, p.removeLocked(c))
	}
	one := [8]byte{1} // any count but 0 wakes the wait
	if _, err := unix.Write(p.wakefd, one[:]); err != nil {
		p.log.Error("usernet: stopping the parked connections' poller", "err", err)
	}
	p.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	return nil
}
