package httpserve

import "sync"

// connBuffers are a fast-path connection's working buffers: what it needs while it reads,
// answers and writes a request, and not while it waits for the next one. A connection whose
// net.Conn can tell it when input comes (readNotifier, as a netstack connection can) returns
// them to its server's pool while it is idle (see waitRead), so that an idle keep-alive connection
// holds none of them (about 17 KiB with the default MaxHeaderBytes and MaxRanges); other
// connections hold theirs until they close. Under load a connection takes them from the pool
// again when its next request comes, which costs no allocation.
type connBuffers struct {
	rbuf []byte      // request bytes, MaxHeaderBytes long
	wbuf []byte      // response heads
	segs []outSeg    // queued output
	iov  [][]byte    // the gather list of a flush
	path []byte      // scratch: the resolved path
	key  []byte      // scratch: a route's key
	rngs []byteRange // scratch: parsed ranges
}

// Initial capacities of the buffers that grow by appending; a buffer that grew past
// maxKeptWbuf is not pooled again, so that one huge multipart answer does not stay in the pool.
const (
	initialWbuf = 4096
	maxKeptWbuf = maxPendingBytes + initialWbuf
	initialPath = 256
	initialKey  = 512
	initialDate = 64
)

// newConnBuffers returns the pool of cfg's connection buffers.
func newConnBuffers(cfg *Config) *sync.Pool {
	return &sync.Pool{New: func() any {
		return &connBuffers{
			rbuf: make([]byte, cfg.MaxHeaderBytes),
			wbuf: make([]byte, 0, initialWbuf),
			segs: make([]outSeg, 0, maxPendingSegs+1),
			iov:  make([][]byte, 0, 2*maxPendingSegs+2),
			path: make([]byte, 0, initialPath),
			key:  make([]byte, 0, initialKey),
			rngs: make([]byteRange, 0, cfg.MaxRanges),
		}
	}}
}

// takeBuffers gives c a set of buffers from its server's pool, if it holds none.
func (c *conn) takeBuffers() {
	if c.held.Load() != nil {
		return
	}
	b := c.srv.connBufs.Get().(*connBuffers)
	c.held.Store(b)
	c.rbuf, c.wbuf, c.segs, c.iov = b.rbuf, b.wbuf[:0], b.segs[:0], b.iov[:0]
	c.sc.path, c.sc.key, c.sc.ranges = b.path[:0], b.key[:0], b.rngs[:0]
}

// releaseBuffers returns c's buffers to the pool. c must have no unread request bytes and no
// queued output.
func (c *conn) releaseBuffers() {
	b := c.held.Load()
	if b == nil {
		return
	}
	c.held.Store(nil)
	// What grew by appending is kept. The last flush's gather list, and the segments behind
	// it (one or two entries each), still point into the store: they are cleared, so that a
	// pooled buffer does not keep replaced content alive.
	clear(c.segs[:min(len(c.iov), cap(c.segs))])
	clear(c.iov)
	b.wbuf, b.segs, b.iov = c.wbuf[:0], c.segs[:0], c.iov[:0]
	b.path, b.key, b.rngs = c.sc.path[:0], c.sc.key[:0], c.sc.ranges[:0]
	c.rbuf, c.wbuf, c.segs, c.iov = nil, nil, nil, nil
	c.sc.path, c.sc.key, c.sc.ranges = nil, nil, nil
	c.req = request{} // its strings are views of rbuf
	if cap(b.wbuf) > maxKeptWbuf {
		return
	}
	c.srv.connBufs.Put(b)
}
