package kv

import (
	"context"
	"errors"
)

// Errors of the durable store ([DB]) and its engines.
var (
	// ErrRevMismatch reports a conditional write (compare-and-swap) whose condition did not
	// hold: the key's revision was not the one expected.
	ErrRevMismatch = errors.New("kv: revision mismatch")
	// ErrCorrupt reports stored data that fails its check: a value whose SHA-256 does not
	// match, a damaged record header, a missing chunk, or an engine that found its own file
	// damaged. Nothing that fails a check is served.
	ErrCorrupt = errors.New("kv: stored data is corrupt")
)

// Engine is what a durable backend implements: a flat, ordered map of string keys to byte
// values in which every write gets a revision, with atomic conditional transactions and
// change notification. [DB] builds values of any size, with digests, on top of it. The
// engines are kv/boltkv (a local bbolt file) and kv/etcdkv (an etcd cluster); kv/kvtest is
// the conformance suite both pass. An Engine's methods are safe for concurrent use.
//
// Revisions are positive and increase with every transaction of the store; a key's revision
// is the one of the transaction that last wrote it. Revision 0 stands for an absent key.
type Engine interface {
	// View calls fn with the value of key and its revision. Where the backend allows it, val
	// is the stored bytes without a copy: valid only until fn returns, and read-only. It
	// returns ErrNotFound if key is absent, or fn's error.
	View(ctx context.Context, key string, fn func(val []byte, rev int64) error) error
	// Range calls fn for every key that starts with prefix, in byte order of the keys, with
	// its value (valid only during fn, read-only) and revision, from one consistent view of
	// the store. It stops at fn's first error and returns it.
	Range(ctx context.Context, prefix string, fn func(key string, val []byte, rev int64) error) error
	// Txn applies ops atomically, and only if every cond holds; otherwise it changes nothing
	// and returns ErrRevMismatch. It returns the revision of the transaction. A transaction
	// that returned is durable: it survives a crash of the process or the machine.
	Txn(ctx context.Context, conds []Cond, ops []Op) (int64, error)
	// Watch reports every change to keys that start with prefix, from the next transaction
	// on, until ctx is done, when it closes the channel. A watcher that falls behind may miss
	// events (the engine never blocks on it); it is then sent an Event with Lost set.
	Watch(ctx context.Context, prefix string) (<-chan Event, error)
	// Close releases the engine.
	Close() error
}

// Cond is a condition of a transaction: key's revision is Rev (0: key is absent).
type Cond struct {
	Key string
	Rev int64
}

// Op is one write of a transaction: put Value under Key, delete Key, or (Prefix) delete
// every key that starts with Key.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
	// Prefix, with Delete, deletes every key starting with Key.
	Prefix bool
}

// Event is a change reported by [Engine.Watch] or [DB.Watch].
type Event struct {
	// Key is the changed key.
	Key string
	// Rev is the revision of the transaction that changed it.
	Rev int64
	// Deleted is set when the key was deleted, unset when it was written.
	Deleted bool
	// Lost is set, with the other fields zero, when events were dropped because the watcher
	// fell behind: the watcher should reread what it cares about.
	Lost bool
}
