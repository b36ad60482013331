package usernet

import (
	"log/slog"
	"os"
	"sync"
	"syscall"

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
	// epfd is the epoll instance, non-blocking; file holds it in Go's poller, in which the
	// goroutine waits for it to become readable (it is while it has events). A goroutine
	// blocked in epoll_wait holds its P in the system call until the runtime's sysmon takes
	// it back, 20 µs to 10 ms later: an appliance pinned to one CPU (one P) runs nothing
	// else meanwhile, which cut the blog's 1 MiB × 500 through -net user from ~430 to ~250
	// requests/s. Close closes file, which ends the goroutine's wait.
	epfd int
	file *os.File
	rc   syscall.RawConn

	mu      sync.Mutex
	stopped bool
	gen     uint32                // the last registration's generation; never 0
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
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	file := os.NewFile(uintptr(epfd), "usernet-epoll") // owns epfd from here on
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	return &epollPoller{log: log, epfd: epfd, file: file, rc: rc, regs: make(map[int32]*kernelConn)}, nil
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
// It takes the instance's events without blocking (epoll_wait with timeout 0) until there are
// none, then waits in Go's poller for more.
func (p *epollPoller) run() {
	events := make([]unix.EpollEvent, epollBatch)
	for {
		var n int
		var werr error
		err := p.rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			return werr != unix.EINTR && (werr != nil || n > 0)
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			if !p.isStopped() {
				p.log.Error("usernet: waiting on parked connections", "err", err)
				p.Close()
			}
			return
		}
		for _, ev := range events[:n] {
			if fn := p.take(ev.Fd, uint32(ev.Pad)); fn != nil {
				fn()
			}
		}
	}
}

// isStopped reports whether Close has stopped the poller.
func (p *epollPoller) isStopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// Close stops the poller: it wakes the registered connections, as their closing will (the
// relays read on and fail), refuses registrations from then on, and closes the instance,
// which ends the goroutine's wait.
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
	p.mu.Unlock()
	err := p.file.Close()
	for _, fn := range fns {
		fn()
	}
	return err
}
