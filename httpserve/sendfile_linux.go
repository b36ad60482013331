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

// The socket is non-blocking, so sendmsg and sendfile on it return rather than wait (EAGAIN,
// then RawConn.Write waits in the poller): they are made as raw system calls, without telling
// the scheduler, as reading memory is. A sendfile of a large body lasts long enough for the
// runtime's monitor to take the processor of a goroutine it sees in a system call and wake
// another thread to run it, and the goroutine then waits for one back: at 64 KiB x 500
// connections on loopback that churn, and the monitor's waking to do it, cost about a tenth
// of the server's CPU (a profile of the server alone on one core).
//
// kernelWriter writes a connection's flushes straight to its kernel TCP socket: heads and
// small bodies gathered into one sendmsg(2), bodies with a sealed file by sendfile(2) from
// it, the bytes before each such body sent with MSG_MORE so that the head leaves in the
// body's first segment. It is made once per connection, and a flush through it allocates
// nothing: the socket's RawConn, the functions handed to it and the system calls' argument
// blocks are kept here.
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

	err        error // of the system call in progress, if it failed
	sendmsgFn  func(fd uintptr) bool
	sendfileFn func(fd uintptr) bool
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
	return w
}

// send writes the queued output: heads from wbuf, bodies from the store or, when a segment
// names one, from its sealed file.
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
		if err := w.sendmsg(iov, unix.MSG_MORE); err != nil {
			return err
		}
		iov = iov[:0]
		if err := w.sendfile(sg.file, sg.off, len(sg.body)); err != nil {
			return err
		}
	}
	return w.sendmsg(iov, 0)
}

// sendmsg writes every byte of bufs with sendmsg(2) and flags, waiting for room in the
// socket (up to its write deadline).
func (w *kernelWriter) sendmsg(bufs [][]byte, flags int) error {
	w.pend, w.flags, w.err = bufs, flags, nil
	for len(w.pend) > 0 && len(w.pend[0]) == 0 {
		w.pend = w.pend[1:]
	}
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

// sendfile sends n bytes of f from off with sendfile(2), waiting for room in the socket (up
// to its write deadline).
func (w *kernelWriter) sendfile(f *os.File, off int64, n int) error {
	w.src, w.off, w.left, w.err = int(f.Fd()), off, n, nil
	err := w.rc.Write(w.sendfileFn)
	if err != nil {
		return err
	}
	return w.err
}

// sendfileStep is the RawConn.Write function of sendfile: it reports false to wait for room.
func (w *kernelWriter) sendfileStep(fd uintptr) bool {
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
