//go:build linux && (386 || amd64 || arm || arm64)

package linuxdom

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/unikit/unikit/xenfront/xenstore"
	"github.com/unikit/unikit/xenfront/xentest"
)

// fakeXenbus models the Linux xenbus driver as far as its locks decide what user space can
// do to it (drivers/xen/xenbus/xenbus_xs.c, xenbus_comms.c, xenbus_dev_frontend.c):
//
//   - one connection to xenstored (here xentest's simulated xenstored, over a pipe), on which
//     the kernel renumbers every request (xs_request_enter) and keeps the caller's id;
//   - xb_write_list, the requests waiting to go out, which a test can hold (pause);
//   - the xenbus kthread, which reads xenstored's messages in order: a reply to a user
//     request goes through xenbus_dev_queue_reply, which takes the file's msgbuffer_mutex and
//     then its reply_mutex; a reply to the kernel's own request (xs_talkv) wakes its waiter; a
//     watch event goes to the xenwatch thread;
//   - the xenwatch thread, which runs watch_fired: the event is queued, under reply_mutex only,
//     on the file that registered the watch, with that file's token;
//   - per open file (fakeXenbusFile), msgbuffer_mutex held for the whole of xenbus_file_write:
//     XS_WATCH and XS_UNWATCH run register_/unregister_xenbus_watch, which wait in xs_talkv
//     for the kthread, and are answered by the driver itself; a request naming a transaction
//     the file did not start is answered ENOENT, as the driver tracks transactions per file.
//
// Where the kernel would block for ever, the model does not: when the kthread has waited
// deadlockCheck for a file's msgbuffer_mutex, it looks at the holder, and if the holder is a
// watch request waiting for the kthread (the ABBA cycle), the model records the deadlock and
// breaks: every read and write of every file then fails with EDEADLK.
type fakeXenbus struct {
	xsd    net.Conn // the kernel's end of its connection to xenstored
	served chan error

	mu        sync.Mutex
	nextID    uint32
	pending   map[uint32]*xbRequest // by the kernel's request id
	outq      [][]byte              // xb_write_list
	paused    bool
	nextWatch uint64
	watches   map[string]*xbWatch // by the kernel's token
	evq       []xbEvent           // for the xenwatch thread
	deadlock  string

	outWake   chan struct{} // capacity 1: outq or paused changed
	evWake    chan struct{} // capacity 1: evq grew
	broken    chan struct{} // closed when the model found a deadlock
	breakOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

// xbRequest is a request the kernel sent: a user file's (file set, callerID its id) or the
// kernel's own xs_talkv (talk set).
type xbRequest struct {
	file     *fakeXenbusFile
	typ      xenstore.MsgType
	callerID uint32
	talk     chan xbReply
}

type xbReply struct {
	h xenstore.Header
	p []byte
}

// xbWatch is a watch a file registered: the kernel's watch_adapter.
type xbWatch struct {
	file        *fakeXenbusFile
	path, token string // as the file named it
}

type xbEvent struct{ path, ktoken string }

// deadlockCheck is how long the kthread waits for a msgbuffer_mutex before it looks for the
// cycle. It only delays the detection; a wait without the cycle goes on.
const deadlockCheck = 10 * time.Millisecond

// newFakeXenbus starts the model in front of h's xenstored, for domain 5.
func newFakeXenbus(h *xentest.Hypervisor) *fakeXenbus {
	kernelEnd, xsdEnd := net.Pipe()
	x := &fakeXenbus{
		xsd: kernelEnd, served: make(chan error, 1), nextID: 1,
		pending: map[uint32]*xbRequest{}, watches: map[string]*xbWatch{},
		outWake: make(chan struct{}, 1), evWake: make(chan struct{}, 1),
		broken: make(chan struct{}), stop: make(chan struct{}),
	}
	go func() { x.served <- h.Xenstored().Serve(xsdEnd, 5); xsdEnd.Close() }()
	x.wg.Add(3)
	go x.writer()
	go x.kthread()
	go x.xenwatch()
	return x
}

// Close stops the kernel threads and the xenstored connection.
func (x *fakeXenbus) Close() {
	close(x.stop)
	x.xsd.Close()
	<-x.served
	x.wg.Wait()
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// pause holds the requests waiting for xenstored (true) or lets them go (false).
func (x *fakeXenbus) pause(on bool) {
	x.mu.Lock()
	x.paused = on
	x.mu.Unlock()
	wake(x.outWake)
}

// queued returns how many requests wait for xenstored.
func (x *fakeXenbus) queued() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.outq)
}

// deadlocked returns the deadlock the model found, "" if none.
func (x *fakeXenbus) deadlocked() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.deadlock
}

func (x *fakeXenbus) fail(why string) {
	x.breakOnce.Do(func() {
		x.mu.Lock()
		x.deadlock = why
		x.mu.Unlock()
		close(x.broken)
	})
}

// send renumbers a request and queues it for xenstored (xs_send).
func (x *fakeXenbus) send(r *xbRequest, h xenstore.Header, parts ...[]byte) {
	x.mu.Lock()
	id := x.nextID
	x.nextID++
	x.pending[id] = r
	h.ReqID = id
	msg, err := xenstore.AppendMessage(nil, h, parts...)
	if err != nil {
		panic(err) // the file checked the length
	}
	x.outq = append(x.outq, msg)
	x.mu.Unlock()
	wake(x.outWake)
}

// talk is xs_talkv: the kernel's own synchronous request.
func (x *fakeXenbus) talk(typ xenstore.MsgType, parts ...[]byte) (xbReply, error) {
	ch := make(chan xbReply, 1)
	x.send(&xbRequest{typ: typ, talk: ch}, xenstore.Header{Type: typ}, parts...)
	select {
	case r := <-ch:
		return r, nil
	case <-x.broken:
		return xbReply{}, syscall.EDEADLK
	case <-x.stop:
		return xbReply{}, syscall.EIO
	}
}

// writer sends xb_write_list to xenstored in order, unless paused.
func (x *fakeXenbus) writer() {
	defer x.wg.Done()
	for {
		x.mu.Lock()
		var msg []byte
		if !x.paused && len(x.outq) > 0 {
			msg = x.outq[0]
			x.outq = x.outq[1:]
		}
		x.mu.Unlock()
		if msg == nil {
			select {
			case <-x.outWake:
				continue
			case <-x.stop:
				return
			}
		}
		if _, err := x.xsd.Write(msg); err != nil {
			return
		}
	}
}

// kthread is xenbus_thread's process_msg: xenstored's messages, one at a time, in order.
func (x *fakeXenbus) kthread() {
	defer x.wg.Done()
	buf := make([]byte, xenstore.HeaderLen+xenstore.PayloadMax)
	for {
		h, p, err := xenstore.ReadMessage(x.xsd, buf)
		if err != nil {
			return
		}
		if h.Type == xenstore.MsgWatchEvent {
			path, token, err := xenstore.ParseWatchEvent(p)
			if err == nil {
				x.mu.Lock()
				x.evq = append(x.evq, xbEvent{path, token})
				x.mu.Unlock()
				wake(x.evWake)
			}
			continue
		}
		x.mu.Lock()
		r := x.pending[h.ReqID]
		delete(x.pending, h.ReqID)
		x.mu.Unlock()
		switch {
		case r == nil || r.talk == nil && r.file == nil: // nobody waits (a released file's unwatch)
		case r.talk != nil:
			r.talk <- xbReply{h, bytes.Clone(p)}
		default:
			h.ReqID = r.callerID
			r.file.queueReply(r.typ, h, p)
		}
	}
}

// xenwatch runs watch_fired for each event, on the file that registered the watch.
func (x *fakeXenbus) xenwatch() {
	defer x.wg.Done()
	for {
		x.mu.Lock()
		var ev xbEvent
		var w *xbWatch
		n := len(x.evq)
		if n > 0 {
			ev = x.evq[0]
			x.evq = x.evq[1:]
			w = x.watches[ev.ktoken]
		}
		x.mu.Unlock()
		if n == 0 {
			select {
			case <-x.evWake:
				continue
			case <-x.stop:
				return
			}
		}
		if w != nil {
			msg, _ := xenstore.AppendMessage(nil, xenstore.Header{Type: xenstore.MsgWatchEvent},
				[]byte(ev.path+"\x00"), []byte(w.token+"\x00"))
			w.file.queue(msg)
		}
	}
}

// open is open("/dev/xen/xenbus").
func (x *fakeXenbus) open() *fakeXenbusFile {
	return &fakeXenbusFile{x: x, msgbuffer: make(chan struct{}, 1), readable: make(chan struct{}, 1),
		closed: make(chan struct{}), transactions: map[xenstore.TxID]bool{}}
}

// fakeXenbusFile is one open /dev/xen/xenbus file: struct xenbus_file_priv.
type fakeXenbusFile struct {
	x *fakeXenbus

	msgbuffer    chan struct{}          // msgbuffer_mutex: a send locks it
	waitsKthread atomic.Bool            // the msgbuffer_mutex holder waits in xs_talkv
	partial      []byte                 // under msgbuffer
	transactions map[xenstore.TxID]bool // started on this file; under msgbuffer

	replyMu  sync.Mutex // reply_mutex
	readq    []byte
	readable chan struct{} // capacity 1

	closed    chan struct{}
	closeOnce sync.Once
	watchReqs atomic.Int64 // XS_WATCH and XS_UNWATCH written
	otherReqs atomic.Int64 // other requests written
}

// lockFromWriter takes msgbuffer_mutex for xenbus_file_write.
func (f *fakeXenbusFile) lockFromWriter() error {
	select {
	case f.msgbuffer <- struct{}{}:
		return nil
	case <-f.x.broken:
		return syscall.EDEADLK
	case <-f.x.stop:
		return syscall.EIO
	}
}

// lockFromKthread takes msgbuffer_mutex for xenbus_dev_queue_reply, looking for the cycle
// each deadlockCheck.
func (f *fakeXenbusFile) lockFromKthread() bool {
	t := time.NewTimer(deadlockCheck)
	defer t.Stop()
	for {
		select {
		case f.msgbuffer <- struct{}{}:
			return true
		case <-f.x.broken:
			return false
		case <-f.x.stop:
			return false
		case <-t.C:
			if f.waitsKthread.Load() {
				f.x.fail("xenbus kthread waits in xenbus_dev_queue_reply for a file's msgbuffer_mutex, " +
					"held by an XS_WATCH/XS_UNWATCH on that file waiting in xs_talkv for the kthread")
				return false
			}
			t.Reset(deadlockCheck)
		}
	}
}

func (f *fakeXenbusFile) unlock() { <-f.msgbuffer }

// queue appends a whole message to the read queue under reply_mutex.
func (f *fakeXenbusFile) queue(msg []byte) {
	f.replyMu.Lock()
	f.readq = append(f.readq, msg...)
	f.replyMu.Unlock()
	wake(f.readable)
}

// queueReply is xenbus_dev_queue_reply.
func (f *fakeXenbusFile) queueReply(typ xenstore.MsgType, h xenstore.Header, p []byte) {
	if !f.lockFromKthread() {
		return
	}
	if typ == xenstore.MsgTransactionStart {
		if h.Type != xenstore.MsgError {
			if n, err := strconv.ParseUint(string(bytes.TrimRight(p, "\x00")), 10, 32); err == nil {
				f.transactions[xenstore.TxID(n)] = true
			}
		}
	}
	if typ == xenstore.MsgTransactionEnd {
		delete(f.transactions, h.TxID)
	}
	f.unlock()
	msg, _ := xenstore.AppendMessage(nil, h, p)
	f.queue(msg)
}

// commandReply is xenbus_command_reply: an answer the driver makes up.
func (f *fakeXenbusFile) commandReply(h xenstore.Header, typ xenstore.MsgType, body string) {
	h.Type = typ
	msg, _ := xenstore.AppendMessage(nil, h, []byte(body+"\x00"))
	f.queue(msg)
}

// Write is xenbus_file_write: it buffers a partial message and acts on a whole one.
func (f *fakeXenbusFile) Write(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, os.ErrClosed
	default:
	}
	if err := f.lockFromWriter(); err != nil {
		return 0, err
	}
	defer f.unlock()
	if len(f.partial)+len(b) > xenstore.HeaderLen+xenstore.PayloadMax {
		f.partial = f.partial[:0]
		return 0, syscall.EINVAL
	}
	f.partial = append(f.partial, b...)
	if len(f.partial) < xenstore.HeaderLen {
		return len(b), nil
	}
	h, err := xenstore.ParseHeader(f.partial)
	if err != nil {
		f.partial = f.partial[:0]
		return 0, syscall.E2BIG
	}
	if len(f.partial) < xenstore.HeaderLen+int(h.Len) {
		return len(b), nil
	}
	p := bytes.Clone(f.partial[xenstore.HeaderLen : xenstore.HeaderLen+int(h.Len)])
	f.partial = f.partial[:0] // a write's bytes past the message are dropped, as by the driver
	switch h.Type {
	case xenstore.MsgWatch, xenstore.MsgUnwatch:
		f.watchReqs.Add(1)
		if err := f.writeWatch(h, p); err != nil {
			return 0, err
		}
	default:
		f.otherReqs.Add(1)
		if h.TxID != 0 && !f.transactions[h.TxID] {
			f.commandReply(h, xenstore.MsgError, "ENOENT")
			break
		}
		f.x.send(&xbRequest{file: f, typ: h.Type, callerID: h.ReqID}, h, p)
	}
	return len(b), nil
}

// writeWatch is xenbus_write_watch: register_/unregister_xenbus_watch (xs_talkv, with
// msgbuffer_mutex held), then a reply the driver makes up.
func (f *fakeXenbusFile) writeWatch(h xenstore.Header, p []byte) error {
	args := xenstore.SplitNul(p)
	if len(args) < 2 {
		f.commandReply(h, xenstore.MsgError, "EINVAL")
		return nil
	}
	path, token := args[0], args[1]
	x := f.x
	f.waitsKthread.Store(true)
	defer f.waitsKthread.Store(false)
	if h.Type == xenstore.MsgWatch {
		x.mu.Lock()
		x.nextWatch++
		ktoken := fmt.Sprintf("k%d", x.nextWatch)
		x.watches[ktoken] = &xbWatch{file: f, path: path, token: token}
		x.mu.Unlock()
		r, err := x.talk(xenstore.MsgWatch, []byte(path+"\x00"), []byte(ktoken+"\x00"))
		if err != nil {
			return err
		}
		if r.h.Type == xenstore.MsgError {
			x.mu.Lock()
			delete(x.watches, ktoken)
			x.mu.Unlock()
			f.commandReply(h, xenstore.MsgError, string(bytes.TrimRight(r.p, "\x00")))
			return nil
		}
	} else {
		x.mu.Lock()
		var ktoken string
		for k, w := range x.watches {
			if w.file == f && w.path == path && w.token == token {
				ktoken = k
			}
		}
		x.mu.Unlock()
		if ktoken != "" {
			if _, err := x.talk(xenstore.MsgUnwatch, []byte(path+"\x00"), []byte(ktoken+"\x00")); err != nil {
				return err
			}
			x.mu.Lock()
			delete(x.watches, ktoken)
			x.mu.Unlock()
		}
	}
	f.commandReply(h, h.Type, "OK")
	return nil
}

// Read is xenbus_file_read: it blocks until the read queue holds something.
func (f *fakeXenbusFile) Read(b []byte) (int, error) {
	for {
		f.replyMu.Lock()
		if len(f.readq) > 0 {
			n := copy(b, f.readq)
			f.readq = f.readq[:copy(f.readq, f.readq[n:])]
			f.replyMu.Unlock()
			return n, nil
		}
		f.replyMu.Unlock()
		select {
		case <-f.readable:
		case <-f.closed:
			return 0, os.ErrClosed
		case <-f.x.broken:
			return 0, syscall.EDEADLK
		case <-f.x.stop:
			return 0, syscall.EIO
		}
	}
}

// Close is the file's release: its watches go (unregistered by the driver's worker later).
func (f *fakeXenbusFile) Close() error {
	f.closeOnce.Do(func() {
		close(f.closed)
		x := f.x
		x.mu.Lock()
		gone := map[string]*xbWatch{}
		for k, w := range x.watches {
			if w.file == f {
				gone[k] = w
				delete(x.watches, k)
			}
		}
		x.mu.Unlock()
		for k, w := range gone {
			x.send(&xbRequest{typ: xenstore.MsgUnwatch}, xenstore.Header{Type: xenstore.MsgUnwatch},
				[]byte(w.path+"\x00"), []byte(k+"\x00"))
		}
	})
	return nil
}

func (f *fakeXenbusFile) Ioctl(uintptr, unsafe.Pointer) (int, error) { return 0, syscall.ENOTTY }
func (f *fakeXenbusFile) Mmap(int64, int) ([]byte, error)            { return nil, syscall.ENODEV }
func (f *fakeXenbusFile) Munmap([]byte) error                        { return syscall.EINVAL }

var _ device = (*fakeXenbusFile)(nil)
