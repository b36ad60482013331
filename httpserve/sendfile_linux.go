//go:build amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || mips64 || mips64le

// The raw sendfile below passes a 64-bit offset, which only the 64-bit architectures'
// sendfile takes (the 32-bit ones have sendfile64); elsewhere every body is written.

package httpserve

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"github.com/unikit/unikit/internal/israce"
	"golang.org/x/sys/unix"
)

// sealBody returns a memfd holding a copy of data, sealed against writes, shrinking and
// growing, or nil if one cannot be made (no memfd, no memory, no descriptor left).
func sealBody(data []byte) *os.File {
	fd, err := unix.MemfdCreate("httpserve-body", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "httpserve-body")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil
	}
	seals := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil
	}
	return f
}

// maxIovecs is the most buffers one sendmsg(2) takes (IOV_MAX).
const maxIovecs = 1024

// The socket is non-blocking, so read, sendmsg and sendfile on it return rather than wait
// (EAGAIN, then RawConn.Read or Write waits in the poller): they are made as raw system
// calls, without telling the scheduler, as reading memory is. A sendfile of a large body lasts long enough for the
// runtime's monitor to take the processor of a goroutine it sees in a system call and wake
// another thread to run it, and the goroutine then waits for one back: at 64 KiB x 500
// connections on loopback that churn, and the monitor's waking to do it, cost about a tenth
// of the server's CPU (a profile of the server alone on one core).
//
// kernelWriter reads a connection's requests from its kernel TCP socket (read) and writes
// its flushes straight to the socket: heads and small bodies gathered into one sendmsg(2),
// bodies with a sealed file by sendfile(2) from it, the bytes before each such body sent
// with MSG_MORE so that the head leaves in the body's first segment. It is made once per
// connection, and neither a read nor a flush through it allocates: the socket's RawConn, the
// functions handed to it and the system calls' argument blocks are kept here.
type kernelWriter struct {
	rc syscall.RawConn

	// The sendmsg in progress: pend is the rest of its bytes, flags its MSG_ flags; vec and
	// msg are its argument blocks.
	pend  net.Buffers
	flags int
	vec   []unix.Iovec
	msg   unix.Msghdr

	// The sendfile in progress: left bytes of the file src from off.
	src  int
	off  int64
	left int

	// The read in progress: into rbuf, rn bytes read.
	rbuf []byte
	rn   int

	err        error // of the system call in progress, if it failed
	sendmsgFn  func(fd uintptr) bool
	sendfileFn func(fd uintptr) bool
	readFn     func(fd uintptr) bool
}

// newKernelWriter returns a kernelWriter for nc if nc is a kernel TCP socket, else nil. It
// takes only a *net.TCPConn, not any connection offering syscall.Conn: a wrapper that embeds
// one (to count bytes, say) would offer its socket too, and writing to the socket directly
// would bypass the wrapper's Write.
func newKernelWriter(nc net.Conn) *kernelWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &kernelWriter{rc: rc, vec: make([]unix.Iovec, maxIovecs)}
	w.sendmsgFn = w.sendmsgStep
	w.sendfileFn = w.sendfileStep
	w.readFn = w.readStep
	return w
}

// send writes the queued output: heads from wbuf, bodies from the store or, when a segment
// names one, from its sealed file. The bytes queued before a file's body and the body go in
// one wait for the socket (sendfileStep), not one each.
func (w *kernelWriter) send(segs []outSeg, wbuf []byte, iov [][]byte) error {
	iov = iov[:0]
	for i := range segs {
		sg := &segs[i]
		iov = append(iov, wbuf[sg.headStart:sg.headEnd])
		if sg.file == nil {
			if len(sg.body) > 0 {
				iov = append(iov, sg.body)
			}
			continue
		}
		if err := w.sendfile(iov, sg.file, sg.off, len(sg.body)); err != nil {
			return err
		}
		iov = iov[:0]
	}
	return w.sendmsg(iov, 0)
}

// sendmsg writes every byte of bufs with sendmsg(2) and flags, waiting for room in the
// socket (up to its write deadline).
func (w *kernelWriter) sendmsg(bufs [][]byte, flags int) error {
	w.setPending(bufs, flags)
	if len(w.pend) == 0 {
		return nil
	}
	err := w.rc.Write(w.sendmsgFn)
	w.pend = nil
	if err != nil {
		return err
	}
	return w.err
}

// setPending makes bufs, less its leading empty buffers, the sendmsg in progress.
func (w *kernelWriter) setPending(bufs [][]byte, flags int) {
	w.pend, w.flags, w.err = bufs, flags, nil
	for len(w.pend) > 0 && len(w.pend[0]) == 0 {
		w.pend = w.pend[1:]
	}
}

// sendmsgStep is the RawConn.Write function of sendmsg: it reports false to wait for room.
func (w *kernelWriter) sendmsgStep(fd uintptr) bool {
	for len(w.pend) > 0 {
		n := 0
		for _, b := range w.pend {
			if n == len(w.vec) {
				break
			}
			if len(b) > 0 {
				w.vec[n].Base = &b[0]
				w.vec[n].SetLen(len(b))
				n++
			}
		}
		w.msg.Iov = &w.vec[0]
		w.msg.SetIovlen(n)
		r, _, e := syscall.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&w.msg)), uintptr(w.flags|unix.MSG_NOSIGNAL))
		switch e {
		case 0:
			consume(&w.pend, int(r))
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = os.NewSyscallError("sendmsg", e)
			return true
		}
	}
	return true
}

// consume drops the first n bytes of bufs.
func consume(bufs *net.Buffers, n int) {
	for n > 0 && len(*bufs) > 0 {
		b := (*bufs)[0]
		if n < len(b) {
			(*bufs)[0] = b[n:]
			return
		}
		n -= len(b)
		*bufs = (*bufs)[1:]
	}
}

// sendfile sends every byte of before with sendmsg(2) and MSG_MORE, so that they leave in the
// body's first segment, then n bytes of f from off with sendfile(2), waiting for room in the
// socket (up to its write deadline). Both system calls run under one RawConn.Write: a second
// would take the descriptor's write lock and arm its poller again for nothing (in a profile
// at 64 KiB x 500 on loopback, the Go side of the head's own sendmsg, its RawConn.Write
// included, was about 4% of the server's CPU).
func (w *kernelWriter) sendfile(before [][]byte, f *os.File, off int64, n int) error {
	w.setPending(before, unix.MSG_MORE)
	w.src, w.off, w.left = int(f.Fd()), off, n
	err := w.rc.Write(w.sendfileFn)
	w.pend = nil
	if err != nil {
		return err
	}
	return w.err
}

// sendfileStep is the RawConn.Write function of sendfile: it reports false to wait for room.
// It sends what is left of the bytes before the body first.
func (w *kernelWriter) sendfileStep(fd uintptr) bool {
	if !w.sendmsgStep(fd) {
		return false // no room yet for the bytes before the body
	}
	if w.err != nil {
		return true
	}
	for w.left > 0 {
		n, _, e := syscall.RawSyscall6(unix.SYS_SENDFILE, fd, uintptr(w.src), uintptr(unsafe.Pointer(&w.off)), uintptr(w.left), 0, 0)
		switch e {
		case 0:
			if n == 0 {
				w.err = io.ErrUnexpectedEOF // the sealed file cannot shrink; never expected
				return true
			}
			w.left -= int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = os.NewSyscallError("sendfile", e)
			return true
		}
	}
	return true
}

// read reads what the socket holds, up to len(p) bytes, with one read(2), waiting for bytes
// (up to its read deadline); at the end of the stream it returns io.EOF.
//
// It is the raw system call for the reason the writes are: a read the runtime is told of
// keeps its monitor thread waking every 20 µs to look for a processor to take, where with
// none to see it backs off to 10 ms. In a profile at 64 KiB x 500 on loopback the monitor's
// sleeps and wakes were about 5% of the server's CPU.
func (w *kernelWriter) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.rbuf, w.rn, w.err = p, 0, nil
	err := w.rc.Read(w.readFn)
	w.rbuf = nil // the buffer goes back to the pool between requests
	if err != nil {
		return 0, err
	}
	return w.rn, w.err
}

// readStep is the RawConn.Read function of read: it reports false to wait for bytes.
func (w *kernelWriter) readStep(fd uintptr) bool {
	for {
		n, e := rawRead(fd, w.rbuf)
		switch e {
		case 0:
			if n == 0 {
				w.err = io.EOF
			}
			w.rn = n
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = os.NewSyscallError("read", e)
			return true
		}
	}
}

// rawRead is read(2) on fd into p as a raw system call. Under the race detector it is
// syscall.Read instead, which tells the detector that a read follows the writes another
// goroutine made to the socket's peer (through the kernel), as a net.Conn's Read does.
func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	if israce.Enabled {
		n, err := syscall.Read(int(fd), p)
		if err != nil {
			return 0, err.(syscall.Errno)
		}
		return n, 0
	}
	n, _, e := syscall.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}
