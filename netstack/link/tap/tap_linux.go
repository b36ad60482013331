package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/unikit/unikit/netstack/link"
)

// Link is a [link.Link] over a Linux TAP device. It is safe for concurrent use; Transmit
// calls are serialised.
type Link struct {
	name     string
	mac      net.HardwareAddr
	mtu      int
	features link.Features
	file     *os.File
	rc       syscall.RawConn

	counters link.Counters
	// Offload counters, for OffloadStats.
	rxGSO, rxNeedsCsum, rxDataValid, txGSO, txNeedsCsum atomic.Uint64

	closed    atomic.Bool
	up        atomic.Bool
	started   atomic.Bool
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// Receive buffer pool. bufs[i] is buffer i (header, then frame); segs[i] is the one-element
	// segment list lent with it, so that a frame's Segments stay valid until it is released.
	bufs [][]byte
	segs [][1][]byte
	lent []atomic.Bool
	free chan uint32

	// Reader state, touched only by the reader goroutine (and readSome, which it calls).
	recv     link.Receiver
	owned    []uint32 // buffers the reader holds, unused so far
	frames   []link.Frame
	rn       int   // frames read into owned[:rn] during this wake-up
	rerr     error // fatal read error
	readFn   func(fd uintptr) bool
	maxRead  int  // largest frame (without header) the reader accepts
	complete bool // finish partial checksums before delivery (Config.CompleteChecksums)

	// Transmit keeps no shared state: every call takes its header and iovecs from txPool, so
	// concurrent transmitters do not queue behind one another's system calls. They write on
	// the raw descriptor directly, under fdMu's read lock, which Close takes for writing
	// before it closes the descriptor, so that a number the kernel reuses is never written.
	fdMu  sync.RWMutex
	rawFD int
}

// txState is one Transmit call's scratch: the virtio_net_hdr and the iovec array, kept in
// txPool so that transmitting allocates nothing in steady state.
type txState struct {
	hdr   [link.VirtioNetHdrLen]byte
	iov   []unix.Iovec
	errno syscall.Errno
	// write is the RawConn.Write callback used when the kernel's queue is full.
	write func(fd uintptr) bool
}

var txPool = sync.Pool{New: func() any {
	ts := &txState{iov: make([]unix.Iovec, 1, 8)}
	ts.iov[0].Base = &ts.hdr[0]
	ts.iov[0].SetLen(len(ts.hdr))
	ts.write = func(fd uintptr) bool { return ts.writev(fd) }
	return ts
}}

// writev writes the frame described by iov, retrying on EINTR; it reports false on EAGAIN (the
// kernel's queue is full) and records any other error in errno.
func (ts *txState) writev(fd uintptr) bool {
	for {
		_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&ts.iov[0])), uintptr(len(ts.iov)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		ts.errno = e
		return true
	}
}

var _ link.Link = (*Link)(nil)

// Open attaches to the TAP device name, creating it if it does not exist (a device created
// this way disappears when the link is closed); an empty name lets the kernel choose one, see
// [Link.Name]. It enables the virtio_net_hdr and, unless cfg.NoOffload, the checksum, TSO4 and
// TSO6 receive offloads, falling back to fewer of them if the kernel refuses the set.
func Open(name string, cfg *Config) (*Link, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.MTU == 0 {
		c.MTU = defaultMTU
	}
	if c.Batch == 0 {
		c.Batch = defaultBatch
	}
	if c.Buffers == 0 {
		c.Buffers = 4 * c.Batch
	}
	if c.Buffers < c.Batch {
		c.Buffers = c.Batch
	}
	if c.TxQueueLen == 0 {
		c.TxQueueLen = DefaultTxQueueLen
	}
	if c.MTU < 68 || c.MTU > 65535 || c.Batch < 0 || c.Batch > maxBatch || c.Buffers > maxBuffers ||
		len(name) >= unix.IFNAMSIZ ||
		(c.MAC != nil && len(c.MAC) != 6) {
		return nil, fmt.Errorf("%w: name %q, MTU %d, batch %d, MAC %v", ErrBadConfig, name, c.MTU, c.Batch, c.MAC)
	}
	mac := link.RandomMAC()
	if c.MAC != nil {
		copy(mac, c.MAC)
	}

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tap: open /dev/net/tun: %w", err)
	}
	ifname, features, err := setup(fd, name, c.NoOffload)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if c.TxQueueLen > 0 {
		raiseTxQueueLen(ifname, c.TxQueueLen)
	}
	file := os.NewFile(uintptr(fd), "/dev/net/tun:"+ifname)
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("tap: %s: %w", ifname, err)
	}

	l := &Link{
		name:     ifname,
		mac:      mac,
		mtu:      c.MTU,
		features: features,
		file:     file,
		rc:       rc,
		done:     make(chan struct{}),
		bufs:     make([][]byte, c.Buffers),
		segs:     make([][1][]byte, c.Buffers),
		lent:     make([]atomic.Bool, c.Buffers),
		free:     make(chan uint32, c.Buffers),
		owned:    make([]uint32, 0, c.Batch),
		frames:   make([]link.Frame, c.Batch),
		complete: c.CompleteChecksums,
	}
	l.maxRead = c.MTU + link.EthernetHeaderLen + vlanHeaderLen
	if features.Has(link.FeatureRxGRO) {
		l.maxRead = max(l.maxRead, link.MaxGSOSize+vlanHeaderLen)
	}
	// One allocation backs every buffer of the pool.
	size := link.VirtioNetHdrLen + l.maxRead
	mem := make([]byte, size*c.Buffers)
	for i := range l.bufs {
		l.bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
		l.free <- uint32(i)
	}
	l.readFn = l.readSome
	if err := rc.Control(func(fd uintptr) { l.rawFD = int(fd) }); err != nil {
		file.Close()
		return nil, fmt.Errorf("tap: %w", err)
	}
	l.up.Store(true)
	return l, nil
}

// setup binds fd to the TAP device name and configures the virtio_net_hdr and offloads. It
// returns the device's name and the features the link can offer.
func setup(fd int, name string, noOffload bool) (string, link.Features, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return "", 0, fmt.Errorf("tap: %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return "", 0, fmt.Errorf("tap: TUNSETIFF %q: %w", name, err)
	}
	name = ifr.Name()
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, link.VirtioNetHdrLen); err != nil {
		return "", 0, fmt.Errorf("tap: %s: TUNSETVNETHDRSZ: %w", name, err)
	}
	if noOffload {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0); err != nil {
			return "", 0, fmt.Errorf("tap: %s: TUNSETOFFLOAD: %w", name, err)
		}
		return name, 0, nil
	}
	// The kernel parses the header of every write whatever TUNSETOFFLOAD says, so transmit
	// offloads come with IFF_VNET_HDR; receive offloads are what TUNSETOFFLOAD enables.
	features := link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6
	// Unknown bits make TUNSETOFFLOAD fail with EINVAL: try the full set, then fall back.
	for _, try := range []struct {
		bits int
		f    link.Features
	}{
		{unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6, link.FeatureRxCsum | link.FeatureRxGRO},
		{unix.TUN_F_CSUM, link.FeatureRxCsum},
		{0, 0},
	} {
		err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, try.bits)
		if err == nil {
			return name, features | try.f, nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return "", 0, fmt.Errorf("tap: %s: TUNSETOFFLOAD: %w", name, err)
		}
	}
	return "", 0, fmt.Errorf("tap: %s: TUNSETOFFLOAD refuses even no offloads", name)
}

// Name returns the TAP device's interface name.
func (l *Link) Name() string { return l.name }

// MAC implements [link.Link.MAC].
func (l *Link) MAC() net.HardwareAddr { return l.mac }

// MTU implements [link.Link.MTU].
func (l *Link) MTU() int { return l.mtu }

// Features implements [link.Link.Features]: TxCsum, TxTSO4, TxTSO6, RxCsum and RxGRO
// unless offloads were turned off or the kernel refused some of them.
func (l *Link) Features() link.Features { return l.features }

// Up implements [link.Link.Up]: the link has carrier from Open until Close or until the
// device goes away.
func (l *Link) Up() bool { return l.up.Load() && !l.closed.Load() }

// Stats implements [link.Link.Stats].
func (l *Link) Stats() link.Stats { return l.counters.Snapshot() }

// OffloadStats returns how many frames used offloads so far.
func (l *Link) OffloadStats() OffloadStats {
	return OffloadStats{
		RxGSO: l.rxGSO.Load(), RxNeedsCsum: l.rxNeedsCsum.Load(), RxDataValid: l.rxDataValid.Load(),
		TxGSO: l.txGSO.Load(), TxNeedsCsum: l.txNeedsCsum.Load(),
	}
}

// Start implements [link.Link.Start]: it starts the reader goroutine, which delivers
// batches to r, and tells r the link is up. It returns [link.ErrNilReceiver],
// [link.ErrStarted] or [link.ErrClosed] as the contract says.
func (l *Link) Start(r link.Receiver) error {
	if r == nil {
		return link.ErrNilReceiver
	}
	if l.closed.Load() {
		return link.ErrClosed
	}
	if !l.started.CompareAndSwap(false, true) {
		return link.ErrStarted
	}
	l.recv = r
	r.LinkStateChanged(true)
	l.wg.Add(1)
	go l.reader()
	return nil
}

// reader is the receive goroutine: it collects buffers, reads a batch and delivers it, until
// the link is closed or the device fails.
func (l *Link) reader() {
	defer l.wg.Done()
	for {
		// Hold at least one buffer, waiting for the receiver to release one if need be, then
		// take whatever else is free up to the batch size without waiting.
		if len(l.owned) == 0 {
			select {
			case i := <-l.free:
				l.owned = append(l.owned, i)
			case <-l.done:
				return
			}
		}
	fill:
		for len(l.owned) < cap(l.owned) {
			select {
			case i := <-l.free:
				l.owned = append(l.owned, i)
			default:
				break fill
			}
		}

		l.rn = 0
		err := l.rc.Read(l.readFn)
		if l.rn > 0 {
			l.deliver()
		}
		if err == nil {
			err = l.rerr
		}
		if err != nil {
			if !l.closed.Load() {
				// The device went away (EBADFD after `ip link del`) or failed otherwise.
				l.counters.RxError()
				l.up.Store(false)
				l.recv.LinkStateChanged(false)
			}
			return
		}
	}
}

// readSome reads frames into the owned buffers until the device has no more (EAGAIN) or they
// are used up. It runs inside RawConn.Read: returning false waits for the fd to be readable.
func (l *Link) readSome(fd uintptr) bool {
	for l.rn < len(l.owned) {
		i := l.owned[l.rn]
		b := l.bufs[i]
		n, err := unix.Read(int(fd), b)
		switch {
		case err == unix.EAGAIN:
			return l.rn > 0
		case err == unix.EINTR:
			continue
		case err == unix.EFAULT || err == unix.EINVAL || err == unix.EMSGSIZE:
			// A frame longer than the buffer: the kernel dropped it.
			l.counters.RxError()
			continue
		case err != nil:
			l.rerr = err
			return true
		}
		if !l.accept(i, b[:n]) {
			continue // the buffer is reused for the next read
		}
		l.rn++
	}
	return true
}

// accept validates a frame read into buffer i (header included) and fills the next frame
// slot; it counts and rejects invalid frames.
func (l *Link) accept(i uint32, b []byte) bool {
	const hl = link.VirtioNetHdrLen
	if len(b) < hl+link.EthernetHeaderLen {
		l.counters.RxDropped(1)
		return false
	}
	frame := b[hl:]
	o, err := link.ParseVirtioNetHdr(b[:hl], len(frame))
	if err != nil || (o.GSOType != link.GSONone && !l.features.Has(link.FeatureRxGRO)) ||
		(o.GSOType == link.GSONone && len(frame) > l.mtu+link.EthernetHeaderLen+vlanHeaderLen) {
		l.counters.RxDropped(1)
		return false
	}
	if o.GSOType != link.GSONone {
		l.rxGSO.Add(1)
	}
	if o.Flags&link.FlagNeedsCsum != 0 {
		l.rxNeedsCsum.Add(1)
		if l.complete {
			link.CompleteChecksum(frame, o)
			o.Flags, o.CsumStart, o.CsumOffset = link.FlagDataValid, 0, 0
		}
	}
	if o.Flags&link.FlagDataValid != 0 {
		l.rxDataValid.Add(1)
	}
	l.segs[i][0] = frame
	l.frames[l.rn] = link.Frame{Segments: l.segs[i][:], Offload: o, Cookie: uint64(i)}
	return true
}

// deliver lends the frames read in this wake-up to the receiver and keeps the unused buffers.
func (l *Link) deliver() {
	bytes := 0
	for k := range l.frames[:l.rn] {
		bytes += len(l.frames[k].Segments[0])
	}
	// Mark the buffers lent only after the last read of their slots: Release's
	// CompareAndSwap then orders those reads before its own writes to them.
	for k := range l.frames[:l.rn] {
		l.lent[l.frames[k].Cookie].Store(true)
	}
	l.counters.Received(l.rn, bytes)
	l.recv.DeliverFrames(l.frames[:l.rn])
	clear(l.frames[:l.rn])
	l.owned = l.owned[:copy(l.owned, l.owned[l.rn:])]
}

// Release implements [link.Link.Release]. Frames that did not come from this link, or are
// released twice, are ignored.
func (l *Link) Release(frames []link.Frame) {
	for k := range frames {
		i := frames[k].Cookie
		if i >= uint64(len(l.bufs)) || !l.lent[i].CompareAndSwap(true, false) {
			continue
		}
		l.segs[i][0] = nil
		l.free <- uint32(i) // never blocks: the channel holds every buffer
	}
}

// Transmit implements [link.Link.Transmit]. Each frame is written with one writev call; it
// blocks only while the kernel's queue is full. Frames the kernel rejects (an invalid header:
// TxErrors) or cannot take while its side of the device is down (TxDropped), and frames longer
// than the MTU without GSO or than [link.MaxGSOSize] (TxDropped), are dropped and counted;
// they are still taken, so that one bad frame does not hold up the rest of the batch. It
// returns [link.ErrClosed] after Close and [link.ErrLinkDown] once the device is gone.
func (l *Link) Transmit(frames []link.Frame) (int, error) {
	if l.closed.Load() {
		return 0, link.ErrClosed
	}
	ts := txPool.Get().(*txState)
	defer txPool.Put(ts)
	sent, bytes := 0, 0
	defer func() { l.counters.Sent(sent, bytes) }()
	for k := range frames {
		f := &frames[k]
		n := f.Len()
		limit := l.mtu + link.EthernetHeaderLen + vlanHeaderLen
		if f.Offload.GSOType != link.GSONone {
			limit = link.MaxGSOSize
		}
		if n < link.EthernetHeaderLen || n > limit {
			l.counters.TxDropped(1)
			continue
		}
		link.PutVirtioNetHdr(ts.hdr[:], f.Offload)
		ts.iov = ts.iov[:1]
		for _, s := range f.Segments {
			if len(s) == 0 {
				continue
			}
			v := unix.Iovec{Base: &s[0]}
			v.SetLen(len(s))
			ts.iov = append(ts.iov, v) // grows only the first time a frame has this many segments
		}
		err := l.write(ts)
		for j := 1; j < len(ts.iov); j++ {
			ts.iov[j].Base = nil // keep no reference to the borrowed frame
		}
		if err != nil {
			l.counters.Sent(sent, bytes)
			sent, bytes = 0, 0
			return k, link.ErrClosed
		}
		switch ts.errno {
		case 0:
			sent++
			bytes += n
			if f.Offload.GSOType != link.GSONone {
				l.txGSO.Add(1)
			}
			if f.Offload.Flags&link.FlagNeedsCsum != 0 {
				l.txNeedsCsum.Add(1)
			}
		case unix.EIO, unix.ENETDOWN:
			// The kernel side of the device is down: like a cable to a switched-off host.
			l.counters.TxDropped(1)
		case unix.EBADFD, unix.ENODEV:
			l.counters.TxError()
			l.up.Store(false)
			return k, link.ErrLinkDown
		default:
			l.counters.TxError()
		}
	}
	return len(frames), nil
}

// write writes the frame in ts with one writev on the raw descriptor, without the runtime
// poller's write lock; only when the kernel's queue is full does it wait through the poller
// (RawConn.Write), which is safe against Close by itself. It returns an error only once the
// link is closed; the system call's own error is left in ts.errno.
func (l *Link) write(ts *txState) error {
	ts.errno = 0
	l.fdMu.RLock()
	if l.closed.Load() {
		l.fdMu.RUnlock()
		return link.ErrClosed
	}
	done := ts.writev(uintptr(l.rawFD))
	l.fdMu.RUnlock()
	if done {
		return nil
	}
	return l.rc.Write(ts.write)
}

// Close implements [link.Link.Close]: it closes the device, which unblocks the reader, and
// waits for the reader to end. It must not be called from within DeliverFrames.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.fdMu.Lock() // no direct write is using the descriptor once this is held
		l.closed.Store(true)
		l.fdMu.Unlock()
		close(l.done)
		l.closeErr = l.file.Close()
		l.wg.Wait()
		if l.started.Load() && l.up.Load() {
			l.recv.LinkStateChanged(false)
		}
		l.up.Store(false)
	})
	return l.closeErr
}
