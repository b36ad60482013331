package xenstore

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Client is a xenstore client over a message stream: a Ring for a PV/PVH guest, or
// Linux's /dev/xen/xenbus. It implements Store. Requests from several goroutines are
// multiplexed by request id; one goroutine reads replies and watch events until Close.
//
// On /dev/xen/xenbus, one Client must not carry both watches and other requests: the kernel
// driver deadlocks when XS_WATCH or XS_UNWATCH is written while another request on the same
// file awaits its reply. linuxdom.Store puts watches on a file of their own.
type Client struct {
	conn io.ReadWriteCloser

	wmu  sync.Mutex // serialises whole messages on conn
	wbuf []byte

	mu        sync.Mutex
	nextID    uint32
	nextToken uint64
	pending   map[uint32]chan reply
	watches   map[string]chan string
	err       error // set once the reader has stopped

	closeOnce sync.Once
	done      chan struct{}
}

// reply is what a request waits for: the reply's type and payload, or the error that ended
// the connection.
type reply struct {
	typ     MsgType
	payload []byte
	err     error
}

var _ Store = (*Client)(nil)

// NewClient starts a client on conn, which it owns and closes in Close.
func NewClient(conn io.ReadWriteCloser) *Client {
	c := &Client{conn: conn, pending: map[uint32]chan reply{},
		watches: map[string]chan string{}, done: make(chan struct{})}
	go c.readLoop()
	return c
}

// readLoop reads replies and watch events until the stream fails, then fails every pending
// request.
func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, HeaderLen+PayloadMax)
	for {
		h, p, err := ReadMessage(c.conn, buf)
		if err != nil {
			c.fail(err)
			return
		}
		if h.Type == MsgWatchEvent {
			c.deliverEvent(p)
		} else {
			c.deliverReply(h, p)
		}
	}
}

// deliverEvent hands a WATCH_EVENT's path to its watch, coalesced with an unread one. A
// malformed event is dropped: watchers re-read state anyway.
func (c *Client) deliverEvent(p []byte) {
	path, token, err := ParseWatchEvent(p)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.watches[token]; ch != nil {
		select {
		case ch <- path:
		default: // coalesced: an unread event is already queued
		}
	}
}

// deliverReply hands a copy of a reply to the request waiting for its id; a reply nobody
// waits for is dropped.
func (c *Client) deliverReply(h Header, p []byte) {
	c.mu.Lock()
	ch := c.pending[h.ReqID]
	delete(c.pending, h.ReqID)
	c.mu.Unlock()
	if ch != nil {
		ch <- reply{typ: h.Type, payload: bytes.Clone(p)}
	}
}

// fail ends every pending request with err.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	for id, ch := range c.pending {
		ch <- reply{err: c.err}
		delete(c.pending, id)
	}
}

// request sends one message and waits for its reply.
func (c *Client) request(typ MsgType, tx TxID, parts ...[]byte) ([]byte, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	c.wmu.Lock()
	var err error
	c.wbuf, err = AppendMessage(c.wbuf[:0], Header{Type: typ, ReqID: id, TxID: tx}, parts...)
	if err == nil {
		_, err = c.conn.Write(c.wbuf)
	}
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, err
	}
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	if r.typ == MsgError {
		return nil, Error(bytes.TrimRight(r.payload, "\x00"))
	}
	if r.typ != typ {
		return nil, fmt.Errorf("%w: reply %v to %v", ErrProtocol, r.typ, typ)
	}
	return r.payload, nil
}

// nul returns s as a NUL-terminated wire string.
func nul(s string) []byte { return append([]byte(s), 0) }

// Read implements Store.
func (c *Client) Read(tx TxID, path string) (string, error) {
	p, err := c.request(MsgRead, tx, nul(path))
	return string(p), err
}

// Write implements Store.
func (c *Client) Write(tx TxID, path, value string) error {
	_, err := c.request(MsgWrite, tx, nul(path), []byte(value))
	return err
}

// Remove implements Store.
func (c *Client) Remove(tx TxID, path string) error {
	_, err := c.request(MsgRm, tx, nul(path))
	return err
}

// Directory implements Store.
func (c *Client) Directory(tx TxID, path string) ([]string, error) {
	p, err := c.request(MsgDirectory, tx, nul(path))
	if err != nil {
		return nil, err
	}
	return SplitNul(p), nil
}

// Start implements Store.
func (c *Client) Start() (TxID, error) {
	p, err := c.request(MsgTransactionStart, 0, []byte{0})
	if err != nil {
		return 0, err
	}
	n, err := ParseUint(string(bytes.TrimRight(p, "\x00")), 1<<32-1)
	if err != nil {
		return 0, fmt.Errorf("%w: transaction id %q", ErrProtocol, p)
	}
	return TxID(n), nil
}

// End implements Store.
func (c *Client) End(tx TxID, commit bool) error {
	arg := "F"
	if commit {
		arg = "T"
	}
	_, err := c.request(MsgTransactionEnd, tx, nul(arg))
	return err
}

// Watch implements Store. The watch's channel is closed by its Close.
func (c *Client) Watch(path string) (*Watch, error) {
	ch := make(chan string, 1)
	c.mu.Lock()
	c.nextToken++
	token := "xenfront-" + strconv.FormatUint(c.nextToken, 10)
	c.watches[token] = ch
	c.mu.Unlock()
	if _, err := c.request(MsgWatch, 0, nul(path), nul(token)); err != nil {
		c.mu.Lock()
		delete(c.watches, token)
		c.mu.Unlock()
		return nil, err
	}
	var once sync.Once
	return NewWatch(ch, func() {
		once.Do(func() {
			_, _ = c.request(MsgUnwatch, 0, nul(path), nul(token))
			c.mu.Lock()
			delete(c.watches, token)
			close(ch)
			c.mu.Unlock()
		})
	}), nil
}

// Close closes the connection and ends the reader; pending requests fail. It is idempotent.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.conn.Close()
		<-c.done
	})
	return err
}
