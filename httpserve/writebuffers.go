package httpserve

import (
	"net"
	"sync"
	"syscall"
)

// buffersWriter is implemented by connections that write a list of buffers in one call of
// their own, consuming the list as net.Buffers.WriteTo does: the unikit stack's TCP
// connections, whose WriteBuffers hands every buffer to one write of the TCP endpoint, so that
// a response's head and body leave as one segment. httpserve declares the interface it
// consumes, so any connection can offer the method without httpserve knowing its type.
type buffersWriter interface {
	WriteBuffers(v *net.Buffers) (int64, error)
}

// writeBuffers writes bufs to nc in the way that puts a flush in the fewest segments (or TLS
// records), without naming any connection type (a kernel TCP socket on Linux does not come
// here: its kernelWriter sends the flush, see conn.flush):
//   - a connection with a gathered write of its own (buffersWriter) gets the list;
//   - a kernel socket gets net.Buffers.WriteTo, which gathers the list into one writev;
//   - any other connection (TLS, a wrapper) gets a small flush copied into one buffer
//     (coalesce), since writing the buffers one by one would send each as a segment or record.
func writeBuffers(nc net.Conn, bufs *net.Buffers) error {
	if bw, ok := nc.(buffersWriter); ok {
		_, err := bw.WriteBuffers(bufs)
		return err
	}
	if coalesce(nc, *bufs) {
		return writeCoalesced(nc, *bufs)
	}
	_, err := bufs.WriteTo(nc)
	return err
}

// coalesceMax is the largest flush written as one buffer to a connection that cannot gather.
const coalesceMax = 32 << 10

// coalesce reports whether the flush iov should be copied into one buffer before it is
// written, rather than written with net.Buffers.WriteTo.
//
// WriteTo gathers into one writev only on package net's own connections (it checks for an
// unexported method); on any other connection it writes each buffer on its own, so a
// response's head and body would leave as two TCP segments or TLS records. Copying a small
// response costs less than the segment: over TAP it saved one frame per request (see
// BenchmarkHTTP4K). Package net's connections are told apart by what they offer rather than
// by their types: they, and wrappers that embed them (which WriteTo gathers for too), give
// access to their socket through syscall.Conn, which connections that are not a socket
// cannot offer and wrappers that hide one (a *tls.Conn) do not. A connection that offered
// SyscallConn without being package net's would get one write per buffer: correct, one
// segment more.
func coalesce(nc net.Conn, iov [][]byte) bool {
	if len(iov) < 2 {
		return false
	}
	if _, kernel := nc.(syscall.Conn); kernel {
		return false
	}
	n := 0
	for _, b := range iov {
		n += len(b)
	}
	return n <= coalesceMax
}

// coalesceBufs holds the buffers writeCoalesced copies into, so that idle connections keep
// none.
var coalesceBufs = sync.Pool{New: func() any { b := make([]byte, 0, coalesceMax); return &b }}

// writeCoalesced writes the bytes of iov with one Write.
func writeCoalesced(nc net.Conn, iov [][]byte) error {
	bp := coalesceBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for _, v := range iov {
		b = append(b, v...)
	}
	_, err := nc.Write(b)
	*bp = b[:0]
	coalesceBufs.Put(bp)
	return err
}
