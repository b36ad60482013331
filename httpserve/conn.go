package httpserve

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"runtime/trace"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// Limits of a connection's output batching.
const (
	maxPendingSegs  = 64       // segments (one a response, more for multipart) queued before a flush
	maxPendingBytes = 32 << 10 // header bytes queued before a flush
)

// conn is one connection on the fast path. Its buffers come from its server's pool and are
// reused for every request, so that a request for a prepared response allocates nothing; an
// idle connection that can wait without them hands them back (see connBuffers).
type conn struct {
	srv  *Server
	nc   net.Conn
	idle atomic.Bool // waiting for a request (Shutdown may close it)

	park parkState // waiting for a request without a goroutine (see waitRead)

	// held are the buffers below while the connection has them (see connBuffers): rbuf, wbuf,
	// segs, iov and sc's slices are nil while it waits, idle, without them. Only the
	// connection's goroutine changes it; it is atomic so that a test can look.
	held atomic.Pointer[connBuffers]

	rbuf []byte // request bytes; rbuf[r:w] is unread. len(rbuf) = MaxHeaderBytes
	r, w int

	wbuf []byte        // serialised response heads (and multipart framing)
	segs []outSeg      // queued output, in order
	iov  [][]byte      // the gather list of a flush, keeping its capacity
	bufs net.Buffers   // iov as consumed by WriteTo
	kw   *kernelWriter // a kernel TCP socket's writer, which sends large bodies with sendfile; or nil

	sc  scratch
	req request

	now     time.Time
	dateSec int64
	date    []byte // "Date: <HTTP-date>\r\n", refreshed each second

	rdTimeout    readTimeout // which timeout rdDeadline, the read deadline set now, enforces
	rdDeadline   time.Time
	wrDeadline   time.Time
	handedOff    bool
	firstRequest bool
	start        time.Time // of the request being answered, for the access log
}

// readTimeout names the timeout a connection's read deadline enforces.
type readTimeout uint8

const (
	noReadTimeout readTimeout = iota // no read deadline is set
	idleTimeout                      // Config.IdleTimeout: waiting for a request
	headerTimeout                    // Config.ReadHeaderTimeout: part of a request has come
)

// outSeg is one piece of queued output: the bytes wbuf[headStart:headEnd] (a response head,
// multipart framing, or both), then body (a view of the store, possibly empty). When file is
// set (only on a connection with a kernelWriter), the body is sent from it, from offset off.
type outSeg struct {
	headStart, headEnd int
	body               []byte
	file               *os.File
	off                int64
}

// serve answers the connection's requests, on the fast path or with HTTP/2, until it closes
// or is handed to net/http.
func (c *conn) serve() {
	s := c.srv
	if s.tlsConfig != nil {
		tc := tls.Server(c.nc, s.tlsConfig)
		if d := s.cfg.ReadHeaderTimeout; d > 0 {
			tc.SetDeadline(time.Now().Add(d))
		}
		if err := tc.Handshake(); err != nil {
			s.endConn(c)
			return
		}
		tc.SetDeadline(time.Time{})
		c.nc = tc
		if tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
			c.serveH2(tc)
			s.endConn(c)
			return
		}
	}
	c.kw = newKernelWriter(c.nc)
	c.date = make([]byte, 0, initialDate)
	// The buffers are taken from the pool when the first bytes come (read), and handed back
	// when the connection ends or parks.
	c.run()
}

// run answers requests on the fast path until the connection ends, or parks (see waitRead):
// then it returns at once, and the goroutine that resumes it runs on.
func (c *conn) run() {
	s := c.srv
	for c.serveBuffered() && (!s.shutdown.Load() || c.r < c.w) {
		switch c.fill() {
		case filled:
			continue
		case parked:
			return
		}
		break
	}
	c.end()
}

// end hands back the fast-path connection's buffers and ends it.
func (c *conn) end() {
	c.releaseBuffers()
	c.srv.endConn(c)
}

// serveBuffered answers every complete request in the read buffer, flushing the responses
// before it returns. It reports whether the connection stays open.
func (c *conn) serveBuffered() bool {
	s := c.srv
	for c.r < c.w {
		buf := c.rbuf[c.r:c.w]
		if c.firstRequest && s.cfg.H2C && len(buf) > 0 && buf[0] == 'P' {
			if len(buf) < len(h2Preface) {
				if string(buf) == h2Preface[:len(buf)] {
					break // wait for the rest of the preface
				}
			} else if string(buf[:len(h2Preface)]) == h2Preface {
				c.flush()
				c.serveH2(&replayConn{Conn: c.nc, buf: append([]byte(nil), buf...), onClose: func() {}})
				return false
			}
		}
		n, perr := parseRequest(buf, s.cfg.MaxHeaderBytes, &c.req)
		if perr != 0 {
			c.clock()
			c.queueError(int(perr))
			c.flush()
			return false
		}
		if n == 0 {
			break // incomplete
		}
		c.firstRequest = false
		c.clock()
		c.start = c.now
		ctx, task := startRequest(context.Background())
		region := trace.StartRegion(ctx, tracePrepare)
		a := s.decide(&c.req, &c.sc, false)
		switch a.kind {
		case ansFallback, ansRoute:
			region.End()
			endRequest(task)
			if c.flush() != nil {
				return false
			}
			c.handOff(buf)
			return false
		case ansRender:
			a = c.render(&a)
		}
		closing := c.req.close || c.req.hasBody || s.shutdown.Load()
		size := c.queue(&a, closing)
		region.End()
		endRequest(task)
		s.countPrepared(a.status, size)
		if s.cfg.AccessLog != nil {
			s.logAccess(&c.req, a.status, size, "HTTP/1.1", c.nc.RemoteAddr().String(), c.now.Sub(c.start))
		}
		c.r += n
		if closing {
			c.flush()
			return false
		}
		if len(c.segs) >= maxPendingSegs || len(c.wbuf) >= maxPendingBytes {
			if c.flush() != nil {
				return false
			}
		}
	}
	return c.flush() == nil
}

// render has a PageFunc render the page of the current request, in line (the page is then
// kept, and the connection stays on the fast path), and answers with it, or with 500.
func (c *conn) render(a *answer) answer {
	s := c.srv
	r, err := pageRequest(&c.req, c.nc.RemoteAddr().String())
	if err != nil {
		return s.errAnswer(http.StatusBadRequest)
	}
	k := s.renderPage(a.routed, r)
	if k == nil {
		return s.errAnswer(http.StatusInternalServerError)
	}
	return s.contentAnswer(&c.req, &c.sc, k.route)
}

// fillResult is what fill did.
type fillResult uint8

const (
	filled    fillResult = iota // read more bytes
	parked                      // parked the connection (see waitRead): its goroutine must return
	fillEnded                   // the connection is to end
)

// fill reads more request bytes, with the idle or header deadline; a connection that can wait
// for its next request without a goroutine (readNotifier) parks instead of reading.
func (c *conn) fill() fillResult {
	s := c.srv
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.r > 0 {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	now := time.Now()
	if c.w == 0 {
		if d := s.cfg.IdleTimeout; d > 0 {
			want := now.Add(d)
			if c.rdTimeout != idleTimeout || deadlineBehind(c.rdDeadline, want, d) {
				c.nc.SetReadDeadline(want)
				c.rdTimeout, c.rdDeadline = idleTimeout, want
			}
		} else if c.rdTimeout != noReadTimeout {
			// No idle timeout: the last request's header deadline must not outlive it.
			c.nc.SetReadDeadline(time.Time{})
			c.rdTimeout = noReadTimeout
		}
		c.idle.Store(true)
		if s.shutdown.Load() {
			return fillEnded
		}
	} else if c.rdTimeout != headerTimeout {
		// Part of a request is here: the rest must come within ReadHeaderTimeout.
		if d := s.cfg.ReadHeaderTimeout; d > 0 {
			c.rdDeadline = now.Add(d)
			c.nc.SetReadDeadline(c.rdDeadline)
			c.rdTimeout = headerTimeout
		} else if c.rdTimeout == idleTimeout {
			c.nc.SetReadDeadline(time.Time{})
			c.rdTimeout = noReadTimeout
		}
	}
	if c.w == 0 {
		if rn, ok := c.nc.(readNotifier); ok && !c.waitRead(rn) {
			// Nothing of a request came for a while: it waits parked, without a goroutine.
			return parked
		}
	}
	if !c.read() {
		return fillEnded
	}
	return filled
}

// read reads request bytes into the read buffer, taking the buffers first if the connection
// holds none. It reports whether the connection stays open.
func (c *conn) read() bool {
	c.takeBuffers()
	var n int
	var err error
	if c.kw != nil {
		n, err = c.kw.read(c.rbuf[c.w:]) // a raw read(2): see kernelWriter.read
	} else {
		n, err = c.nc.Read(c.rbuf[c.w:])
	}
	c.idle.Store(false)
	c.w += n
	return err == nil || n > 0
}

// deadlineBehind reports whether a deadline set for timeout d has fallen far enough behind
// want, the deadline d would give now, to be moved: by more than d/16. Setting a deadline
// resets a timer; moving it only then spares a busy connection that work on most requests,
// and the timeout it enforces stays between 15/16 of d and d.
func deadlineBehind(set, want time.Time, d time.Duration) bool { return want.Sub(set) > d/16 }

// clock refreshes the time and, once a second, the Date field.
func (c *conn) clock() {
	c.now = time.Now()
	if sec := c.now.Unix(); sec != c.dateSec || len(c.date) == 0 {
		c.dateSec = sec
		c.date = append(c.date[:0], "Date: "...)
		c.date = c.now.UTC().AppendFormat(c.date, http.TimeFormat)
		c.date = append(c.date, "\r\n"...)
	}
}

// queue serialises the answer's head into wbuf and queues it with its body. It returns the
// response's size in bytes.
func (c *conn) queue(a *answer, closing bool) int {
	start := len(c.wbuf)
	head := c.req.method == "HEAD"
	var body []byte
	var off int64 // of body in v.data
	v := a.v
	switch a.kind {
	case ansRedirect:
		c.wbuf = append(c.wbuf, a.route.redirect...)
		if c.req.query != "" && a.route.keepQuery {
			c.wbuf = append(c.wbuf, '?')
			c.wbuf = append(c.wbuf, c.req.query...)
		}
		c.wbuf = append(c.wbuf, "\r\n"...)
	case ansBody:
		c.wbuf = append(c.wbuf, v.full...)
		body = v.data
	case ansNotModified:
		c.wbuf = append(c.wbuf, v.notMod...)
	case ansUnsatisfiable:
		ev := c.srv.builtin(http.StatusRequestedRangeNotSatisfiable).vars[0]
		c.wbuf = append(c.wbuf, ev.full...)
		c.wbuf = append(c.wbuf, "Content-Range: bytes */"...)
		c.wbuf = strconv.AppendInt(c.wbuf, int64(len(v.data)), 10)
		c.wbuf = append(c.wbuf, "\r\n"...)
		body = ev.data
	case ansPartial:
		if len(a.ranges) > 1 {
			return c.queueMultipart(v, a.ranges, closing)
		}
		r := a.ranges[0]
		c.wbuf = append(c.wbuf, v.partial...)
		c.wbuf = appendRangeFields(c.wbuf, v, r)
		c.wbuf = append(c.wbuf, "Content-Length: "...)
		c.wbuf = strconv.AppendInt(c.wbuf, r.length, 10)
		c.wbuf = append(c.wbuf, "\r\n"...)
		body, off = v.data[r.start:r.start+r.length], r.start
	}
	c.endHead(closing)
	if head {
		body = nil
	}
	sg := outSeg{headStart: start, headEnd: len(c.wbuf), body: body}
	if c.kw != nil && len(body) >= sendfileMin && len(body) <= sendfileMax && a.kind != ansUnsatisfiable {
		sg.file, sg.off = v.sealed.file(v, &c.srv.seals), off
	}
	c.segs = append(c.segs, sg)
	return len(c.wbuf) - start + len(body)
}

// queueMultipart queues a 206 answer of several ranges of v as multipart/byteranges: the
// head, then each range after its part header, then the close delimiter. It returns the
// response's size in bytes.
func (c *conn) queueMultipart(v *variant, ranges []byteRange, closing bool) int {
	first := len(c.wbuf)
	c.wbuf = append(c.wbuf, v.partial...)
	c.wbuf = append(c.wbuf, "Content-Type: multipart/byteranges; boundary="...)
	c.wbuf = append(c.wbuf, v.boundary...)
	c.wbuf = append(c.wbuf, "\r\nContent-Length: "...)
	c.wbuf = strconv.AppendInt(c.wbuf, multipartLen(v, ranges), 10)
	c.wbuf = append(c.wbuf, "\r\n"...)
	c.endHead(closing)
	if c.req.method == "HEAD" {
		c.segs = append(c.segs, outSeg{headStart: first, headEnd: len(c.wbuf)})
		return len(c.wbuf) - first
	}
	start, parts := first, 0
	for _, r := range ranges {
		c.wbuf = appendPartHeader(c.wbuf, v, r)
		part := v.data[r.start : r.start+r.length]
		c.segs = append(c.segs, outSeg{headStart: start, headEnd: len(c.wbuf), body: part})
		parts += len(part)
		start = len(c.wbuf)
	}
	c.wbuf = appendCloseDelimiter(c.wbuf, v)
	c.segs = append(c.segs, outSeg{headStart: start, headEnd: len(c.wbuf)})
	return len(c.wbuf) - first + parts
}

// endHead appends Date, the Connection field if needed and the blank line.
func (c *conn) endHead(closing bool) {
	c.wbuf = append(c.wbuf, c.date...)
	if closing {
		c.wbuf = append(c.wbuf, "Connection: close\r\n"...)
	} else if c.req.http10 {
		c.wbuf = append(c.wbuf, "Connection: keep-alive\r\n"...)
	}
	c.wbuf = append(c.wbuf, "\r\n"...)
}

// queueError queues a built-in error response after which the connection closes.
func (c *conn) queueError(status int) {
	r := c.srv.builtin(status)
	if r.status != status {
		status = http.StatusBadRequest
		r = c.srv.builtin(status)
	}
	a := answer{kind: ansBody, status: status, route: r, v: r.vars[0]}
	c.req = request{method: "GET"}
	size := c.queue(&a, true)
	c.srv.countPrepared(status, size)
}

// flush writes the queued output, heads from wbuf and bodies straight from the store, as one
// list of buffers (writeBuffers chooses how the connection takes it), or through the kernel
// socket's kernelWriter, which sends large bodies from their sealed files; and empties the
// queue.
func (c *conn) flush() error {
	if len(c.segs) == 0 {
		return nil
	}
	defer trace.StartRegion(context.Background(), traceWrite).End()
	if d := c.srv.cfg.WriteTimeout; d > 0 {
		now := c.now
		if now.IsZero() {
			now = time.Now()
		}
		want := now.Add(d)
		if deadlineBehind(c.wrDeadline, want, d) {
			c.nc.SetWriteDeadline(want)
			c.wrDeadline = want
		}
	}
	var err error
	if c.kw != nil {
		err = c.kw.send(c.segs, c.wbuf, c.iov)
	} else {
		c.iov = c.iov[:0]
		for _, sg := range c.segs {
			c.iov = append(c.iov, c.wbuf[sg.headStart:sg.headEnd])
			if len(sg.body) > 0 {
				c.iov = append(c.iov, sg.body)
			}
		}
		c.bufs = c.iov
		err = writeBuffers(c.nc, &c.bufs)
	}
	clear(c.segs) // drop the bodies and files, which may belong to content since replaced
	c.segs = c.segs[:0]
	c.wbuf = c.wbuf[:0]
	return err
}
