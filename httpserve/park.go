package httpserve

// readNotifier is a connection that can call a function once a Read would not block (data,
// the peer's close, an error, its read deadline's passing, or Close), without a goroutine
// blocked on it (*netstack.TCPConn). fn may run with the connection's stack locked: it must
// only hand off.
type readNotifier interface {
	NotifyReadable(fn func())
}

// park leaves the connection waiting for its next request without a goroutine, or its
// buffers: its goroutine returns, and the connection's next readable event (or its idle
// deadline, Shutdown's past deadline, or Close) starts another that reads on. An idle
// keep-alive connection then costs the server its conn and its stack's endpoint only. The
// caller must touch c no more once park returns.
func (c *conn) park(rn readNotifier) {
	c.releaseBuffers()
	if c.resumeFn == nil {
		c.resumeFn = c.wake
	}
	rn.NotifyReadable(c.resumeFn)
}

// wake hands a parked connection to a new goroutine. It runs under the stack's locks.
func (c *conn) wake() { go c.resume() }

// resume reads what woke the parked connection and serves on, or ends the connection when
// the read fails (the idle deadline passed, Shutdown, Close, the peer's hang-up).
func (c *conn) resume() {
	if c.read() {
		c.run()
		return
	}
	c.end()
}
