package xentest

import (
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// Serve answers xenstore wire-protocol requests from domain dom read from conn (for example a
// xenstore.Ring on xenstored's side) until reading fails, then removes the connection's
// watches and returns the error.
func (s *Xenstored) Serve(conn io.ReadWriter, dom xenfront.DomID) error {
	c := &storeConn{v: &storeView{s: s, dom: dom}, conn: conn, watches: map[watchKey]*xenstore.Watch{}}
	defer c.closeWatches()
	buf := make([]byte, xenstore.HeaderLen+xenstore.PayloadMax)
	for {
		h, p, err := xenstore.ReadMessage(conn, buf)
		if err != nil {
			return err
		}
		out, err := c.handle(h, p)
		if err != nil {
			c.send(xenstore.Header{Type: xenstore.MsgError, ReqID: h.ReqID, TxID: h.TxID}, []byte(string(errno(err))+"\x00"))
			continue
		}
		c.send(xenstore.Header{Type: h.Type, ReqID: h.ReqID, TxID: h.TxID}, out)
	}
}

// watchKey names a watch of a connection: xenstored tells watches apart by path and token.
type watchKey struct{ path, token string }

// storeConn is one connection Serve answers: the domain's view of the store, its watches,
// and the writer shared with the goroutines that forward watch events.
type storeConn struct {
	v    *storeView
	conn io.ReadWriter

	wmu sync.Mutex // serialises whole messages on conn

	watches map[watchKey]*xenstore.Watch
	wg      sync.WaitGroup // the watch goroutines
}

// okReply is the payload of a reply that carries no value.
const okReply = "OK\x00"

// handle performs one request and returns its reply's payload.
func (c *storeConn) handle(h xenstore.Header, p []byte) ([]byte, error) {
	args := xenstore.SplitNul(p)
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	v := c.v
	switch h.Type {
	case xenstore.MsgRead:
		val, err := v.Read(h.TxID, arg(0))
		return []byte(val), err
	case xenstore.MsgWrite:
		i := strings.IndexByte(string(p), 0)
		if i < 0 {
			return nil, xenstore.Error("EINVAL")
		}
		return []byte(okReply), v.Write(h.TxID, string(p[:i]), string(p[i+1:]))
	case xenstore.MsgRm:
		return []byte(okReply), v.Remove(h.TxID, arg(0))
	case xenstore.MsgDirectory:
		names, err := v.Directory(h.TxID, arg(0))
		var out []byte
		for _, n := range names {
			out = append(append(out, n...), 0)
		}
		return out, err
	case xenstore.MsgTransactionStart:
		tx, err := v.Start()
		return append(strconv.AppendUint(nil, uint64(tx), 10), 0), err
	case xenstore.MsgTransactionEnd:
		return []byte(okReply), v.End(h.TxID, arg(0) == "T")
	case xenstore.MsgWatch:
		return []byte(okReply), c.watch(watchKey{arg(0), arg(1)})
	case xenstore.MsgUnwatch:
		return []byte(okReply), c.unwatch(watchKey{arg(0), arg(1)})
	default:
		return nil, xenstore.Error("ENOSYS")
	}
}

// errno is the errno name an XS_ERROR reply carries for err: its own for a xenstore.Error,
// EINVAL for anything else.
func errno(err error) xenstore.Error {
	if e, ok := err.(xenstore.Error); ok {
		return e
	}
	return "EINVAL"
}

// send writes one message; a payload too large for the protocol becomes an E2BIG error reply.
func (c *storeConn) send(h xenstore.Header, parts ...[]byte) {
	msg, err := xenstore.AppendMessage(nil, h, parts...)
	if err != nil {
		msg, _ = xenstore.AppendMessage(nil, xenstore.Header{Type: xenstore.MsgError, ReqID: h.ReqID, TxID: h.TxID}, []byte("E2BIG\x00"))
	}
	c.wmu.Lock()
	_, _ = c.conn.Write(msg)
	c.wmu.Unlock()
}

// watch sets watch k, replacing one with the same path and token, and forwards its events as
// WATCH_EVENT messages.
func (c *storeConn) watch(k watchKey) error {
	w, err := c.v.Watch(k.path)
	if err != nil {
		return err
	}
	if old := c.watches[k]; old != nil {
		old.Close()
	}
	c.watches[k] = w
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for path := range w.C {
			c.send(xenstore.Header{Type: xenstore.MsgWatchEvent}, []byte(path+"\x00"), []byte(k.token+"\x00"))
		}
	}()
	return nil
}

// unwatch removes watch k; ErrNotFound if there is none.
func (c *storeConn) unwatch(k watchKey) error {
	w := c.watches[k]
	if w == nil {
		return xenstore.ErrNotFound
	}
	w.Close()
	delete(c.watches, k)
	return nil
}

// closeWatches removes the connection's watches and waits for their goroutines.
func (c *storeConn) closeWatches() {
	for _, w := range c.watches {
		w.Close()
	}
	c.wg.Wait()
}
