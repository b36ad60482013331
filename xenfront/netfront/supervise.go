package netfront

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unikit/unikit/xenfront/xenbus"
)

// closeTimeout bounds how long Close waits for the back end to acknowledge Closing.
const closeTimeout = 2 * time.Second

// reconnectDelay is the pause between failed attempts to reconnect.
const reconnectDelay = 100 * time.Millisecond

// supervise follows the back end's state after a connection: when the back end leaves
// Connected, it tears the connection down and reconnects; when a queue finds the back end
// broken, it shuts the connection down for good. It ends when the link fails or is closed.
func (l *Link) supervise(c *connection) {
	defer close(l.done)
	for {
		w, err := l.watchBackend()
		if err != nil {
			l.fail(fmt.Errorf("netfront: watch %s/state: %w", l.dev.backend, err))
			l.teardown(c)
			return
		}
		s, err := l.awaitState(l.ctx, w, l.failCh, func(s xenbus.State) bool {
			return s != xenbus.StateConnected
		})
		w.Close()
		if l.Err() != nil {
			l.shutDownBroken(c)
			return
		}
		l.teardown(c)
		if err != nil || l.closing.Load() {
			return
		}
		l.log.Info("netfront: back end left Connected; reconnecting", "state", s)
		if c = l.reconnect(); c == nil {
			return
		}
	}
}

// teardown stops c's goroutines and gives back its grants and ports.
// Frames the receiver releases meanwhile find c through the draining map: c is entered there
// before it stops being the current connection.
func (l *Link) teardown(c *connection) {
	l.mu.Lock()
	l.draining[c.gen] = c
	l.mu.Unlock()
	l.conn.Store(nil)
	l.setUp(false)
	c.stop()
	if !c.release() {
		l.mu.Lock()
		delete(l.draining, c.gen)
		l.mu.Unlock()
	}
}

// shutDownBroken ends connection c after the back end broke the protocol. It asks the back
// end to let go of the rings before revoking them; pages it keeps mapped anyway are leaked,
// never reused.
func (l *Link) shutDownBroken(c *connection) {
	l.up.Store(false)
	_ = l.setState(xenbus.StateClosing)
	l.awaitBackendClosing()
	l.teardown(c)
	_ = l.setState(xenbus.StateClosed)
}

// reconnect answers the back end's departure with Closed, waits for it to reset and connects
// again with fresh rings, retrying failed attempts. It returns nil when the link failed or was
// closed meanwhile.
func (l *Link) reconnect() *connection {
	if err := l.setState(xenbus.StateClosed); err != nil {
		l.fail(fmt.Errorf("netfront: %w", err))
		return nil
	}
	if err := l.awaitBackendReset(); err != nil {
		return nil
	}
	for {
		c, err := l.connect(l.ctx, false)
		if err == nil {
			return c
		}
		if l.ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrUnsupported) {
			l.fail(fmt.Errorf("netfront: %w", err))
			return nil
		}
		l.log.Warn("netfront: reconnect failed; retrying", "err", err)
		select {
		case <-time.After(reconnectDelay):
		case <-l.ctx.Done():
			return nil
		}
	}
}

// awaitBackendReset waits until the back end acknowledged our Closed by going Closed or back
// to InitWait.
func (l *Link) awaitBackendReset() error {
	return l.awaitBackend(l.ctx, func(s xenbus.State) bool {
		return s == xenbus.StateClosed || s == xenbus.StateInitWait
	})
}

// awaitBackendClosing waits up to closeTimeout for the back end to follow the front end to
// Closing (or further, or back to before InitWait).
func (l *Link) awaitBackendClosing() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = l.awaitBackend(ctx, func(s xenbus.State) bool {
		return s >= xenbus.StateClosing || s < xenbus.StateInitWait
	})
}

// awaitBackend waits, on a watch of its own, until the back end's state satisfies ok.
func (l *Link) awaitBackend(ctx context.Context, ok func(xenbus.State) bool) error {
	w, err := l.watchBackend()
	if err != nil {
		return err
	}
	defer w.Close()
	_, err = l.awaitState(ctx, w, nil, ok)
	return err
}
