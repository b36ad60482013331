package netfront

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/xenfront/xenbus"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// connect runs the front end's side of the handshake (io/netif.h, io/xenbus.h) and returns a
// connected connection: Initialising, the back end's InitWait and features, fresh rings and
// pools published in xenstore, RX buffers posted, Connected on both sides. first is the
// link's first connection, which fixes its offloads.
func (l *Link) connect(ctx context.Context, first bool) (*connection, error) {
	if err := l.setState(xenbus.StateInitialising); err != nil {
		return nil, err
	}
	w, err := l.watchBackend()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	s, err := l.awaitState(ctx, w, nil, func(s xenbus.State) bool {
		return s == xenbus.StateInitWait || s == xenbus.StateUnknown && l.removed()
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for back end InitWait: %w", err)
	}
	if s != xenbus.StateInitWait {
		return nil, errDeviceGone
	}
	f, err := readFeatures(l.cfg.Store, l.dev.Load().backend)
	if err != nil {
		return nil, err
	}
	if err := l.negotiate(f, first); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.gen++
	gen := l.gen
	l.mu.Unlock()
	c, err := l.newConnection(gen, f, min(l.cfg.Queues, f.maxQueues))
	if err != nil {
		return nil, err
	}
	if err := l.publish(c, f); err != nil {
		c.release()
		return nil, err
	}
	c.postRxBuffers()
	if err := l.setState(xenbus.StateConnected); err != nil {
		c.release()
		return nil, err
	}
	if err := l.awaitConnected(ctx, w); err != nil {
		c.release()
		return nil, err
	}
	c.start()
	l.conn.Store(c)
	l.log.Info("netfront: connected", "queues", len(c.queues), "split", c.split, "backend", l.dev.Load().backend)
	l.setUp(true)
	return c, nil
}

// negotiate derives the link's offloads from the back end's features. The first connection
// sets them; a reconnection must offer at least as much, since the stack already relies on
// them.
func (l *Link) negotiate(f backendFeatures, first bool) error {
	tso := f.sg && !l.cfg.NoGSO
	want := link.FeatureTxCsum | link.FeatureRxCsum
	if tso && f.gso4 {
		want |= link.FeatureTxTSO4
	}
	if tso && f.gso6 && f.ipv6Csum {
		want |= link.FeatureTxTSO6
	}
	if !l.cfg.NoGSO {
		want |= link.FeatureRxGRO
	}
	if first {
		l.features = want
	} else if !want.Has(l.features) {
		return fmt.Errorf("%w: reconnected back end offers fewer offloads", ErrUnsupported)
	}
	return nil
}

// awaitConnected waits on w until the back end follows the front end to Connected; a back
// end that closes or vanishes instead fails the handshake.
func (l *Link) awaitConnected(ctx context.Context, w *xenstore.Watch) error {
	s, err := l.awaitState(ctx, w, nil, func(s xenbus.State) bool {
		return s == xenbus.StateConnected || s >= xenbus.StateClosing || s == xenbus.StateUnknown
	})
	if err == nil && s != xenbus.StateConnected {
		err = fmt.Errorf("back end went %v during the handshake", s)
	}
	return err
}

// setState switches the front end's state key, unless the toolstack removed the device
// (errDeviceGone; see inDevice).
func (l *Link) setState(s xenbus.State) error {
	return l.inDevice(func(tx xenstore.TxID) error {
		return l.cfg.Store.Write(tx, l.dir+"/state", strconv.Itoa(int(s)))
	})
}

// inDevice runs write in a xenstore transaction that first reads the front end's state key,
// redoing it on EAGAIN. When the key is gone, the toolstack removed the device (xl
// network-detach): write is not run and inDevice returns errDeviceGone, as a write would
// create the removed directory again (Linux's xenbus_switch_state reads the key the same way).
func (l *Link) inDevice(write func(tx xenstore.TxID) error) error {
	st := l.cfg.Store
	for range maxTxnRetries {
		tx, err := st.Start()
		if err != nil {
			return err
		}
		_, err = st.Read(tx, l.dir+"/state")
		if errors.Is(err, xenstore.ErrNotFound) {
			err = errDeviceGone
		}
		if err == nil {
			err = write(tx)
		}
		if err != nil {
			_ = st.End(tx, false)
			return err
		}
		err = st.End(tx, true)
		if errors.Is(err, xenstore.ErrAgain) {
			continue
		}
		return err
	}
	return fmt.Errorf("xenstore transaction: %w after %d attempts", xenstore.ErrAgain, maxTxnRetries)
}

// removed reports whether the toolstack removed the device: its state key is gone.
func (l *Link) removed() bool {
	_, err := l.cfg.Store.Read(0, l.dir+"/state")
	return errors.Is(err, xenstore.ErrNotFound)
}

// watchBackend watches the back end's state key.
func (l *Link) watchBackend() (*xenstore.Watch, error) {
	return l.cfg.Store.Watch(l.dev.Load().backend + "/state")
}

// awaitState waits on w, a watch of the back end's state key, until the state satisfies ok
// and returns it. It gives up with ctx's error, with xenstore.ErrClosed when the watch is
// closed, and with the link's failure once a queue reports one on failed (nil: never).
func (l *Link) awaitState(ctx context.Context, w *xenstore.Watch, failed <-chan struct{}, ok func(xenbus.State) bool) (xenbus.State, error) {
	path := l.dev.Load().backend + "/state"
	for {
		if s := xenbus.ReadState(l.cfg.Store, path); ok(s) {
			return s, nil
		}
		select {
		case _, open := <-w.C:
			if !open {
				return xenbus.StateUnknown, xenstore.ErrClosed
			}
		case <-failed:
			return xenbus.StateUnknown, l.Err()
		case <-ctx.Done():
			return xenbus.StateUnknown, ctx.Err()
		}
	}
}
