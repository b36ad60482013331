package kv

import (
	"context"
	"slices"
	"sync"
)

// maxWatchKeys is how many distinct changed keys a Watcher holds before it reports All
// instead: it bounds the memory a watcher that is not read can take, and a reader that far
// behind rereads everything anyway.
const maxWatchKeys = 1024

// Watcher is told of the changes to a store. Writers never block on a watcher and a watcher
// never holds more than a bounded amount: changes accumulate in it, coalesced, until Next
// collects them, and beyond maxWatchKeys (1024) distinct keys it reports All instead of the
// keys. Close a watcher when done with it.
type Watcher struct {
	ws     *watchers
	prefix string
	notify chan struct{} // capacity 1: set while a change is pending; closed by Close

	mu      sync.Mutex // guards the fields below
	pending map[string]struct{}
	all     bool
	gen     uint64
	changed bool
	closed  bool
}

// Next waits for changes and returns them, coalesced since the previous call. It returns
// ErrClosed once the watcher is closed (pending changes are dropped), or ctx.Err().
func (w *Watcher) Next(ctx context.Context) (Change, error) {
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return Change{}, ErrClosed
		}
		if w.changed {
			c := Change{Generation: w.gen, All: w.all}
			if !w.all {
				c.Keys = make([]string, 0, len(w.pending))
				for k := range w.pending {
					c.Keys = append(c.Keys, k)
				}
				slices.Sort(c.Keys)
			}
			w.pending, w.all, w.changed = nil, false, false
			w.mu.Unlock()
			return c, nil
		}
		w.mu.Unlock()
		select {
		case <-w.notify:
		case <-ctx.Done():
			return Change{}, ctx.Err()
		}
	}
}

// Close stops the watcher and wakes a Next waiting on it. It is idempotent.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		w.pending = nil
		close(w.notify)
	}
	w.mu.Unlock()
	w.ws.remove(w)
	return nil
}

// add records a change; it never blocks.
func (w *Watcher) add(gen uint64, keys []string, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	hit := all
	for _, k := range keys {
		if !hasPrefixKey(k, w.prefix) {
			continue
		}
		hit = true
		if w.all {
			continue
		}
		if w.pending == nil {
			w.pending = map[string]struct{}{}
		}
		w.pending[k] = struct{}{}
		if len(w.pending) > maxWatchKeys {
			w.all, w.pending = true, nil
		}
	}
	if !hit {
		return
	}
	if all {
		w.all, w.pending = true, nil
	}
	w.gen = max(w.gen, gen)
	w.changed = true
	select {
	case w.notify <- struct{}{}:
	default: // a notification is already pending
	}
}

// watchers is the set of watchers of one store.
type watchers struct {
	mu  sync.Mutex
	set map[*Watcher]struct{}
}

// watch adds a watcher of prefix.
func (ws *watchers) watch(prefix string) *Watcher {
	w := &Watcher{ws: ws, prefix: prefix, notify: make(chan struct{}, 1)}
	ws.mu.Lock()
	if ws.set == nil {
		ws.set = map[*Watcher]struct{}{}
	}
	ws.set[w] = struct{}{}
	ws.mu.Unlock()
	return w
}

func (ws *watchers) remove(w *Watcher) {
	ws.mu.Lock()
	delete(ws.set, w)
	ws.mu.Unlock()
}

// notify tells every watcher of a change to keys (or of all content) at generation gen.
func (ws *watchers) notify(gen uint64, keys []string, all bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.set {
		w.add(gen, keys, all)
	}
}
