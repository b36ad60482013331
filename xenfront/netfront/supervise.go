package netfront

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unikit/unikit/xenfront/xenbus"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// closeTimeout bounds how long Close waits for the back end to acknowledge Closing.
const closeTimeout = 2 * time.Second

// reconnectDelay is the pause between failed attempts to reconnect.
const reconnectDelay = 100 * time.Millisecond

// supervise follows the back end's state after a connection: when the back end leaves
// Connected, it disconnects and reconnects once the device is back (see disconnect and
// reconnect); when a queue finds the back end broken, it shuts the connection down for good.
// It ends when the link fails or is closed.
func (l *Link) supervise(c *connection) {
	defer close(l.done)
	for {
		w, err := l.watchBackend()
		if err != nil {
			l.fail(fmt.Errorf("netfront: watch %s/state: %w", l.dev.Load().backend, err))
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
		if err != nil || l.closing.Load() {
			l.teardown(c)
			return
		}
		l.log.Info("netfront: back end left Connected; reconnecting", "state", s)
		l.disconnect(c)
		if c = l.reconnect(); c == nil {
			return
		}
	}
}

// disconnect answers a back end that left Connected: the link goes down and c's goroutines
// stop, the front end answers Closed (unless the toolstack removed the device), and c's
// grants and ports go once the back end let go of them. A back end leaves Connected for
// Closing with the rings still mapped (the toolstack's detach writes its state) and unmaps
// them when the front end is Closed; it is waited for up to closeTimeout, after which pages it
// still maps are leaked, never reused.
func (l *Link) disconnect(c *connection) {
	l.stop(c)
	if err := l.setState(xenbus.StateClosed); err != nil && !errors.Is(err, errDeviceGone) {
		l.log.Warn("netfront: answering Closed", "err", err)
	}
	ctx, cancel := context.WithTimeout(l.ctx, closeTimeout)
	defer cancel()
	_ = l.awaitBackend(ctx, func(s xenbus.State) bool {
		return s == xenbus.StateClosed || s <= xenbus.StateInitWait
	})
	l.release(c)
}

// teardown stops c's goroutines and gives back its grants and ports.
func (l *Link) teardown(c *connection) {
	l.stop(c)
	l.release(c)
}

// stop takes the link down and stops c's goroutines. Frames the receiver releases meanwhile
// find c through the draining map: c is entered there before it stops being the current
// connection.
func (l *Link) stop(c *connection) {
	l.mu.Lock()
	l.draining[c.gen] = c
	l.mu.Unlock()
	l.conn.Store(nil)
	l.setUp(false)
	c.stop()
}

// release gives back c's grants and ports; c leaves the draining map unless frames are still
// lent.
func (l *Link) release(c *connection) {
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

// reconnect waits until the device is there with a back end ready to connect, and connects
// again with fresh rings, retrying failed attempts. It returns nil when the link failed or was
// closed meanwhile.
func (l *Link) reconnect() *connection {
	for {
		if err := l.awaitDevice(); err != nil {
			return nil
		}
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
		if errors.Is(err, errDeviceGone) {
			l.log.Info("netfront: device removed; waiting for it to return")
			continue
		}
		l.log.Warn("netfront: reconnect failed; retrying", "err", err)
		select {
		case <-time.After(reconnectDelay):
		case <-l.ctx.Done():
			return nil
		}
	}
}

// awaitDevice waits until the device can connect again, and records its keys: the
// toolstack's keys are in the front end's directory, and the back end acknowledged the front
// end's Closed (Closed, or back in Initialising or InitWait) and is not being detached (online
// 0: the toolstack is about to remove both directories). It watches the front end's
// directory, which a detach removes and an attach creates again, and the back end's, which
// may move when the device returns. It returns an error only when the link is closing.
func (l *Link) awaitDevice() error {
	fw, err := l.cfg.Store.Watch(l.dir)
	if err != nil {
		return err
	}
	defer fw.Close()
	var bw *xenstore.Watch
	var watched string
	defer func() {
		if bw != nil {
			bw.Close()
		}
	}()
	for {
		dev, err := readDevice(l.cfg.Store, l.dir)
		if err == nil {
			if dev.backend != watched {
				if bw != nil {
					bw.Close()
				}
				if bw, err = l.cfg.Store.Watch(dev.backend); err != nil {
					return err
				}
				watched = dev.backend
			}
			if l.backendReady(dev.backend) {
				if !bytes.Equal(dev.mac, l.mac) {
					l.log.Warn("netfront: the device returned with another mac; the link keeps its own",
						"mac", dev.mac, "link", l.mac)
				}
				l.dev.Store(&dev)
				return nil
			}
		}
		var bc <-chan string
		if bw != nil {
			bc = bw.C
		}
		select {
		case <-fw.C:
		case <-bc:
		case <-l.ctx.Done():
			return l.ctx.Err()
		}
	}
}

// backendReady reports whether the back end at dir can take a new connection: its state is
// Closed, Initialising or InitWait, and its online key (written by the toolstack) is not 0.
func (l *Link) backendReady(dir string) bool {
	switch xenbus.ReadState(l.cfg.Store, dir+"/state") {
	case xenbus.StateClosed, xenbus.StateInitialising, xenbus.StateInitWait:
	default:
		return false
	}
	online, err := l.cfg.Store.Read(0, dir+"/online")
	return err != nil || online != "0"
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
