//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import (
	"encoding/binary"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/unikit/unikit/xenfront"
)

// cBytes views a C ioctl argument as the n bytes the kernel would copy_from_user.
func cBytes(arg unsafe.Pointer, n uintptr) []byte { return unsafe.Slice((*byte)(arg), n) }

var ne = binary.NativeEndian

// fakeGntalloc models drivers/xen/gntalloc.c for one open file: it decodes the ioctl
// arguments at the C structures' byte offsets, hands out grant references from 8 up and mmap
// offsets in kernel-page steps, and maps a page only at an allocated index.
type fakeGntalloc struct {
	pageSize int

	mu       sync.Mutex
	nextRef  uint32
	index    uint64
	pages    map[uint64]*fakeGref // by index
	mapped   int
	closed   bool
	failMmap bool
	dirty    bool // hand out pages full of 0xFF
}

type fakeGref struct {
	ref      uint32
	domid    uint16
	writable bool
	mem      []byte
	mapped   bool
}

func newFakeGntalloc(pageSize int) *fakeGntalloc {
	return &fakeGntalloc{pageSize: pageSize, nextRef: xenfront.NrReservedGrants, pages: map[uint64]*fakeGref{}}
}

func (f *fakeGntalloc) Read([]byte) (int, error)  { return 0, syscall.EINVAL }
func (f *fakeGntalloc) Write([]byte) (int, error) { return 0, syscall.EINVAL }
func (f *fakeGntalloc) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	clear(f.pages) // gntalloc_release drops the file's grants
	return nil
}

func (f *fakeGntalloc) Ioctl(req uintptr, arg unsafe.Pointer) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, os.ErrClosed
	}
	switch req {
	case 0x00184705, 0x00144705: // IOCTL_GNTALLOC_ALLOC_GREF (24- or 20-byte struct)
		if req != ioctlGntallocAllocGref {
			return 0, syscall.ENOTTY
		}
		b := cBytes(arg, allocGrefCSize)
		domid, flags, count := ne.Uint16(b[0:]), ne.Uint16(b[2:]), ne.Uint32(b[4:])
		if count != 1 || flags&^1 != 0 {
			return 0, syscall.EINVAL
		}
		g := &fakeGref{ref: f.nextRef, domid: domid, writable: flags&1 != 0, mem: make([]byte, f.pageSize)}
		f.nextRef++
		if f.dirty {
			for i := range g.mem {
				g.mem[i] = 0xFF
			}
		}
		ne.PutUint64(b[8:], f.index)
		ne.PutUint32(b[16:], g.ref) // gref_ids[0], copied out after the struct header
		f.pages[f.index] = g
		f.index += uint64(f.pageSize)
		return 0, nil
	case 0x00104706, 0x000c4706: // IOCTL_GNTALLOC_DEALLOC_GREF (16- or 12-byte struct)
		if req != ioctlGntallocDeallocGref {
			return 0, syscall.ENOTTY
		}
		b := cBytes(arg, deallocGrefCSize)
		index, count := ne.Uint64(b[0:]), ne.Uint32(b[8:])
		g := f.pages[index]
		if g == nil || count != 1 {
			return 0, syscall.EINVAL
		}
		delete(f.pages, index)
		return 0, nil
	}
	return 0, syscall.ENOTTY
}

func (f *fakeGntalloc) Mmap(offset int64, length int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failMmap {
		return nil, syscall.ENOMEM
	}
	g := f.pages[uint64(offset)]
	if g == nil || length != f.pageSize || g.mapped {
		return nil, syscall.ENOENT
	}
	g.mapped = true
	f.mapped++
	return g.mem, nil
}

func (f *fakeGntalloc) Munmap(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.pages {
		if g.mapped && unsafe.SliceData(g.mem) == unsafe.SliceData(b) {
			g.mapped = false
			f.mapped--
			return nil
		}
	}
	// Unmapping a page already deallocated (Close after dealloc) is fine for the kernel too.
	f.mapped--
	return nil
}

func (f *fakeGntalloc) live() (grants, mapped int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pages), f.mapped
}

// fakeXen connects the event channels of several fake /dev/xen/evtchn files: an interdomain
// channel is a pair of ports; notifying one fires the other.
type fakeXen struct {
	mu    sync.Mutex
	next  uint32
	ports map[uint32]*fakePort
}

type fakePort struct {
	dev        *fakeEvtchn
	dom        uint16
	remoteDom  uint16
	peer       uint32 // 0 while unbound
	masked     bool   // queued to user space, not yet written back
	pending    bool   // fired while masked
	notifyDone int
}

func newFakeXen() *fakeXen { return &fakeXen{next: 1, ports: map[uint32]*fakePort{}} }

// fakeEvtchn models drivers/xen/evtchn.c for one open file in domain dom: a queue of fired
// ports that Read drains (masking them), Write unmasks, an overflow when the queue is full.
type fakeEvtchn struct {
	x   *fakeXen
	dom uint16
	cap int // queue capacity before overflow

	queue    []uint32
	overflow bool
	wake     chan struct{} // capacity 1
	closed   chan struct{}
	once     sync.Once
	writes   int  // Write calls
	badWrite bool // a Write of a partial port number or of a port not bound here
}

func (x *fakeXen) open(dom uint16, capacity int) *fakeEvtchn {
	return &fakeEvtchn{x: x, dom: dom, cap: capacity, wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

// fire raises port (x.mu held).
func (x *fakeXen) fire(port uint32) {
	p := x.ports[port]
	if p == nil {
		return
	}
	if p.masked {
		p.pending = true
		return
	}
	d := p.dev
	if len(d.queue) >= d.cap {
		d.overflow = true
	} else {
		d.queue = append(d.queue, port)
		p.masked = true
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Fire raises port from outside, as the remote end or Xen would.
func (x *fakeXen) Fire(port uint32) {
	x.mu.Lock()
	x.fire(port)
	x.mu.Unlock()
}

func (d *fakeEvtchn) Ioctl(req uintptr, arg unsafe.Pointer) (int, error) {
	x := d.x
	x.mu.Lock()
	defer x.mu.Unlock()
	select {
	case <-d.closed:
		return 0, os.ErrClosed
	default:
	}
	switch req {
	case 0x00044502: // IOCTL_EVTCHN_BIND_UNBOUND_PORT {remote_domain}
		b := cBytes(arg, 4)
		port := x.next
		x.next++
		x.ports[port] = &fakePort{dev: d, dom: d.dom, remoteDom: uint16(ne.Uint32(b))}
		return int(port), nil
	case 0x00084501: // IOCTL_EVTCHN_BIND_INTERDOMAIN {remote_domain, remote_port}
		b := cBytes(arg, 8)
		rdom, rport := ne.Uint32(b[0:]), ne.Uint32(b[4:])
		r := x.ports[rport]
		if r == nil || uint32(r.dom) != rdom || r.remoteDom != d.dom || r.peer != 0 {
			return 0, syscall.EINVAL
		}
		port := x.next
		x.next++
		x.ports[port] = &fakePort{dev: d, dom: d.dom, remoteDom: uint16(rdom), peer: rport}
		r.peer = port
		return int(port), nil
	case 0x00044503: // IOCTL_EVTCHN_UNBIND {port}
		port := ne.Uint32(cBytes(arg, 4))
		p := x.ports[port]
		if p == nil || p.dev != d {
			return 0, syscall.ENOTCONN
		}
		if r := x.ports[p.peer]; r != nil {
			r.peer = 0
		}
		delete(x.ports, port)
		return 0, nil
	case 0x00044504: // IOCTL_EVTCHN_NOTIFY {port}
		port := ne.Uint32(cBytes(arg, 4))
		p := x.ports[port]
		if p == nil || p.dev != d {
			return 0, syscall.ENOTCONN
		}
		p.notifyDone++
		if p.peer != 0 {
			x.fire(p.peer)
		}
		return 0, nil
	case 0x00004505: // IOCTL_EVTCHN_RESET
		d.queue, d.overflow = d.queue[:0], false
		return 0, nil
	}
	return 0, syscall.ENOSYS
}

func (d *fakeEvtchn) Read(b []byte) (int, error) {
	for {
		d.x.mu.Lock()
		if d.overflow {
			d.x.mu.Unlock()
			return 0, syscall.EFBIG
		}
		if len(d.queue) > 0 {
			k := min(len(d.queue), len(b)/4)
			for i, port := range d.queue[:k] {
				ne.PutUint32(b[4*i:], port)
			}
			// Move what is left to the front rather than reslicing past what was read: the
			// queue keeps its capacity, and firing a port (append) does not allocate.
			d.queue = d.queue[:copy(d.queue, d.queue[k:])]
			d.x.mu.Unlock()
			return 4 * k, nil
		}
		d.x.mu.Unlock()
		select {
		case <-d.wake:
		case <-d.closed:
			return 0, os.ErrClosed
		}
	}
}

// Write unmasks the ports in b; one that fired while masked fires again (the event stayed
// pending in Xen).
func (d *fakeEvtchn) Write(b []byte) (int, error) {
	x := d.x
	x.mu.Lock()
	defer x.mu.Unlock()
	d.writes++
	n := len(b) &^ 3
	if n != len(b) {
		d.badWrite = true
	}
	for i := 0; i < n; i += 4 {
		port := ne.Uint32(b[i:])
		if p := x.ports[port]; p == nil || p.dev != d {
			d.badWrite = true
		}
		if p := x.ports[port]; p != nil && p.dev == d && p.masked {
			p.masked = false
			if p.pending {
				p.pending = false
				x.fire(port)
			}
		}
	}
	return n, nil
}

func (d *fakeEvtchn) Close() error {
	d.once.Do(func() {
		close(d.closed)
		d.x.mu.Lock()
		for port, p := range d.x.ports {
			if p.dev == d {
				delete(d.x.ports, port)
			}
		}
		d.x.mu.Unlock()
	})
	return nil
}

func (d *fakeEvtchn) Mmap(int64, int) ([]byte, error) { return nil, syscall.ENODEV }
func (d *fakeEvtchn) Munmap([]byte) error             { return syscall.EINVAL }

var (
	_ device = (*fakeGntalloc)(nil)
	_ device = (*fakeEvtchn)(nil)
)
