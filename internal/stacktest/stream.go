package stacktest

import (
	"net"
	"sync/atomic"
	"testing"
)

// MiB is the unit a Stream moves per call.
const MiB = 1 << 20

// Stream keeps a one-way flow of bytes going from one end of an established TCP connection to
// the other, one MiB per call of [Stream.MiB], for measuring what the path costs per MiB in
// steady state (allocations, frames). The sender writes 1 MiB at a time; a reader goroutine
// reads the other end into a 64 KiB buffer (a typical application read) and throws the bytes
// away. Neither side allocates: what a measurement counts is the path's.
//
// MiB does not wait for the reader to have read what it wrote, which would drain the
// connection each time and measure slow start over and over: it waits only until the reader
// is no more than Lag MiB behind. A run of calls therefore starts and ends with about the same
// amount in flight, and the count over the run is that of as many MiB.
type Stream struct {
	src net.Conn
	buf []byte
	// sent is what src has written, in bytes.
	sent int64

	// read is what the reader goroutine has read, in bytes.
	read atomic.Int64
	// goal, when not 0, is the count of bytes read at which the reader wakes the writer
	// through reached.
	goal    atomic.Int64
	reached chan struct{}
	// done is closed when the reader goroutine ends; err, never nil then, says why.
	done chan struct{}
	err  error
}

// Lag is how many MiB the reader may be behind the writer when [Stream.MiB] returns: more
// than a TCP window holds, so that flow control, not the test, paces the sender.
const Lag = 16

// NewStream starts a stream from src to dst. The reader goroutine ends when dst is closed,
// which the caller arranges (a test's cleanup, say).
func NewStream(src, dst net.Conn) *Stream {
	s := &Stream{src: src, buf: make([]byte, MiB), reached: make(chan struct{}, 1), done: make(chan struct{})}
	go s.readAll(dst)
	return s
}

func (s *Stream) readAll(dst net.Conn) {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	var total int64
	for {
		n, err := dst.Read(buf)
		total += int64(n)
		s.read.Store(total)
		if g := s.goal.Load(); g > 0 && total >= g && s.goal.CompareAndSwap(g, 0) {
			s.reached <- struct{}{}
		}
		if err != nil {
			s.err = err
			return
		}
	}
}

// MiB writes one MiB and waits until the reader is at most Lag MiB behind. It fails tb if the
// connection fails.
func (s *Stream) MiB(tb testing.TB) {
	if _, err := s.src.Write(s.buf); err != nil {
		tb.Fatalf("stream write: %v", err)
	}
	s.sent += MiB
	s.wait(tb, s.sent-Lag*MiB)
}

// Sync waits until the reader has read everything written so far.
func (s *Stream) Sync(tb testing.TB) {
	s.wait(tb, s.sent)
}

// wait waits until the reader has read goal bytes.
func (s *Stream) wait(tb testing.TB, goal int64) {
	if s.read.Load() >= goal {
		return
	}
	s.goal.Store(goal)
	if s.read.Load() >= goal && s.goal.CompareAndSwap(goal, 0) {
		return // the reader passed the goal before it saw it
	}
	select {
	case <-s.reached:
	case <-s.done:
		tb.Fatalf("stream read: %v", s.err)
	}
}
