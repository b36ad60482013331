package xenfront

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// XsClient is a xenstore client over a message stream: a StoreRing for a PV/PVH guest, or
// Linux's /dev/xen/xenbus. It implements Store. Requests from several goroutines are
// multiplexed by request id; one goroutine reads replies and watch events until Close.
type XsClient struct {
	conn io.ReadWriteCloser

	wmu  sync.Mutex // serialises whole messages on conn
	wbuf []byte

	mu        sync.Mutex
	nextID    uint32
	nextToken uint64
	pending   map[uint32]chan xsReply
	watches   map[string]chan string
	err       error // set once the reader has stopped

	closeOnce sync.Once
	done      chan struct{}
}

type xsReply struct {
	typ     XsMsgType
	payload []byte
	err     error
}

var _ Store = (*XsClient)(nil)

// NewXsClient starts a client on conn, which it owns and closes in Close.
func NewXsClient(conn io.ReadWriteCloser) *XsClient {
	c := &XsClient{conn: conn, pending: map[uint32]chan xsReply{},
		watches: map[string]chan string{}, done: make(chan struct{})}
	go c.readLoop()
	return c
}

func (c *XsClient) readLoop() {
	defer close(c.done)
	buf := make([]byte, XsHeaderLen+XsPayloadMax)
	for {
		h, p, err := ReadXsMessage(c.conn, buf)
		if err != nil {
			c.fail(err)
			return
		}
		if h.Type == XsWatchEvent {
			path, token, err := ParseWatchEvent(p)
			if err != nil {
				continue // a malformed event is dropped; watchers re-read state anyway
			}
			c.mu.Lock()
			if ch := c.watches[token]; ch != nil {
				select {
				case ch <- path:
				default: // coalesced: an unread event is already queued
				}
			}
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		ch := c.pending[h.ReqID]
		delete(c.pending, h.ReqID)
		c.mu.Unlock()
		if ch != nil {
			ch <- xsReply{typ: h.Type, payload: bytes.Clone(p)}
		}
	}
}

// fail ends every pending request with err.
func (c *XsClient) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	for id, ch := range c.pending {
		ch <- xsReply{err: c.err}
		delete(c.pending, id)
	}
}

// request sends one message and waits for its reply.
func (c *XsClient) request(typ XsMsgType, tx TxID, parts ...[]byte) ([]byte, error) {
	ch := make(chan xsReply, 1)
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
	c.wbuf, err = AppendXsMessage(c.wbuf[:0], XsHeader{Type: typ, ReqID: id, TxID: tx}, parts...)
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
	if r.typ == XsError {
		return nil, StoreError(bytes.TrimRight(r.payload, "\x00"))
	}
	if r.typ != typ {
		return nil, fmt.Errorf("%w: reply %v to %v", ErrProtocol, r.typ, typ)
	}
	return r.payload, nil
}

func nul(s string) []byte { return append([]byte(s), 0) }

// Read implements Store.
func (c *XsClient) Read(tx TxID, path string) (string, error) {
	p, err := c.request(XsRead, tx, nul(path))
	return string(p), err
}

// Write implements Store.
func (c *XsClient) Write(tx TxID, path, value string) error {
	_, err := c.request(XsWrite, tx, nul(path), []byte(value))
	return err
}

// Remove implements Store.
func (c *XsClient) Remove(tx TxID, path string) error {
	_, err := c.request(XsRm, tx, nul(path))
	return err
}

// Directory implements Store.
func (c *XsClient) Directory(tx TxID, path string) ([]string, error) {
	p, err := c.request(XsDirectory, tx, nul(path))
	if err != nil {
		return nil, err
	}
	return SplitNul(p), nil
}

// Start implements Store.
func (c *XsClient) Start() (TxID, error) {
	p, err := c.request(XsTransactionStart, 0, []byte{0})
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
func (c *XsClient) End(tx TxID, commit bool) error {
	arg := "F"
	if commit {
		arg = "T"
	}
	_, err := c.request(XsTransactionEnd, tx, nul(arg))
	return err
}

// Watch implements Store. The watch's channel is closed by its Close.
func (c *XsClient) Watch(path string) (*Watch, error) {
	ch := make(chan string, 1)
	c.mu.Lock()
	c.nextToken++
	token := "xenfront-" + strconv.FormatUint(c.nextToken, 10)
	c.watches[token] = ch
	c.mu.Unlock()
	if _, err := c.request(XsWatch, 0, nul(path), nul(token)); err != nil {
		c.mu.Lock()
		delete(c.watches, token)
		c.mu.Unlock()
		return nil, err
	}
	var once sync.Once
	return NewWatch(ch, func() {
		once.Do(func() {
			_, _ = c.request(XsUnwatch, 0, nul(path), nul(token))
			c.mu.Lock()
			delete(c.watches, token)
			close(ch)
			c.mu.Unlock()
		})
	}), nil
}

// Close closes the connection and ends the reader; pending requests fail. It is idempotent.
func (c *XsClient) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.conn.Close()
		<-c.done
	})
	return err
}
