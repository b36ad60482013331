// Package boltkv is the embedded durable engine of kv: one bbolt file (go.etcd.io/bbolt),
// each transaction written and fsync'd before it returns. Use it through kv.NewDB:
//
//	e, err := boltkv.Open("queue.db", nil)
//	db := kv.NewDB(e, nil)
//
// Damage to the file is reported, never served: Open refuses a file shorter than its own
// metadata says (truncated) or, unless Options.SkipCheck, one whose page structure fails
// bbolt's consistency check; a read that meets a damaged page or a fault on the mapped file
// returns kv.ErrCorrupt instead of crashing; and the DB's digests catch damaged values.
package boltkv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/unikit/unikit/kv"
)

var (
	dataBucket = []byte("kv")   // key -> 8-byte big-endian revision, then the value
	metaBucket = []byte("meta") // "rev" -> the store's last revision
	revKey     = []byte("rev")
)

// Options configure Open; nil means the defaults.
type Options struct {
	// SkipCheck skips the check of the whole file at Open, which reads every key and value
	// (a second or so per GiB). Damage is then found when a read meets it.
	SkipCheck bool
	// Timeout bounds how long Open waits for another process's lock on the file; default 1s.
	Timeout time.Duration
}

// batchDelay is how long a transaction waits for others to commit with it.
const batchDelay = 500 * time.Microsecond

// Engine is a kv.Engine on one bbolt file.
type Engine struct {
	db   *bolt.DB
	path string

	mu       sync.Mutex // guards watchers
	watchers []*watcher
}

var _ kv.Engine = (*Engine)(nil)

// Open opens (or creates) the store in the file at path and checks it (see the package
// documentation). A damaged file gives an error wrapping kv.ErrCorrupt. When the damage made
// bbolt panic while opening, its memory mapping of the file (and with it the file's lock)
// stays until the process exits: opening the same file again in this process then times out.
func Open(path string, o *Options) (e *Engine, err error) {
	if o == nil {
		o = &Options{}
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	// bbolt panics on some damaged pages while it opens the file: recover, and close the file
	// it opened so that its lock does not outlive the failed Open.
	var file *os.File
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			e, err = nil, fmt.Errorf("%w: %s is damaged or truncated: %v", kv.ErrCorrupt, path, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	fi, statErr := os.Stat(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		FreelistType: bolt.FreelistMapType,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch) {
			err = fmt.Errorf("%w: %s is damaged or truncated: %v", kv.ErrCorrupt, path, err)
		}
		return nil, err
	}
	// Concurrent transactions wait this long for others to share their commit (group commit);
	// a lone writer pays it once per transaction, against an fsync of a millisecond or more.
	db.MaxBatchDelay = batchDelay
	e = &Engine{db: db, path: path}
	size := int64(0) // the file's size before bbolt opened (and maybe grew) it
	if statErr == nil {
		size = fi.Size()
	}
	if err := e.check(size, o.SkipCheck); err != nil {
		db.Close()
		return nil, err
	}
	return e, nil
}

// check creates the buckets of a new file, or checks an existing one of the given size.
func (e *Engine) check(size int64, skipCheck bool) (err error) {
	defer e.guard(&err)()
	if size > 0 {
		return e.db.View(func(tx *bolt.Tx) error {
			if size < tx.Size() {
				return fmt.Errorf("%w: %s is truncated: %d bytes, its metadata says %d", kv.ErrCorrupt, e.path, size, tx.Size())
			}
			if tx.Bucket(dataBucket) == nil || tx.Bucket(metaBucket) == nil {
				return fmt.Errorf("%w: %s has no kv buckets: not a store of this package", kv.ErrCorrupt, e.path)
			}
			if skipCheck {
				return nil
			}
			return e.walk(tx)
		})
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(dataBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(metaBucket)
		return err
	})
}

// walk reads every key and value of the file, in this goroutine so that guard catches what a
// damaged page makes bbolt do. (bbolt's own Tx.Check runs in a goroutine of its own, where
// its assertions on a damaged page would end the process.)
func (e *Engine) walk(tx *bolt.Tx) (err error) {
	defer e.guard(&err)()
	var sum byte
	for _, name := range [][]byte{dataBucket, metaBucket} {
		err := tx.Bucket(name).ForEach(func(k, v []byte) error {
			for _, b := range v {
				sum ^= b
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w: %s: %v", kv.ErrCorrupt, e.path, err)
		}
	}
	_ = sum
	return nil
}

// guard turns a panic of bbolt on a damaged page, or a fault on the mapped file (a file
// truncated while open), into kv.ErrCorrupt. Use as defer e.guard(&err)().
func (e *Engine) guard(err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			*err = fmt.Errorf("%w: %s: %v", kv.ErrCorrupt, e.path, r)
		}
	}
}

// split returns a stored value's revision and bytes.
func (e *Engine) split(key, v []byte) (int64, []byte, error) {
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("%w: %s: key %q has a damaged record", kv.ErrCorrupt, e.path, key)
	}
	return int64(binary.BigEndian.Uint64(v)), v[8:], nil
}

// View implements kv.Engine. val is a view of the memory-mapped file: no copy.
func (e *Engine) View(_ context.Context, key string, fn func(val []byte, rev int64) error) (err error) {
	defer e.guard(&err)()
	return e.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(dataBucket).Get([]byte(key))
		if v == nil {
			return kv.ErrNotFound
		}
		rev, val, err := e.split([]byte(key), v)
		if err != nil {
			return err
		}
		return fn(val, rev)
	})
}

// Range implements kv.Engine.
func (e *Engine) Range(_ context.Context, prefix string, fn func(key string, val []byte, rev int64) error) (err error) {
	defer e.guard(&err)()
	p := []byte(prefix)
	return e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(dataBucket).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			rev, val, err := e.split(k, v)
			if err != nil {
				return err
			}
			if err := fn(string(k), val, rev); err != nil {
				return err
			}
		}
		return nil
	})
}

// Txn implements kv.Engine: a bbolt transaction, fsync'd before it returns. Transactions of
// concurrent callers are committed together, with one fsync (bbolt's DB.Batch).
func (e *Engine) Txn(_ context.Context, conds []kv.Cond, ops []kv.Op) (rev int64, err error) {
	defer e.guard(&err)()
	// A condition that fails already in a read transaction fails here, cheaply: in a batch it
	// would roll back the transactions of every other caller in it.
	if len(conds) > 0 {
		if err := e.db.View(func(tx *bolt.Tx) error { return e.checkConds(tx.Bucket(dataBucket), conds) }); err != nil {
			return 0, err
		}
	}
	var events []kv.Event
	// Batch commits the transactions of concurrent callers together, one fsync for all (a
	// failing one is run again alone, so each caller gets its own result).
	err = e.db.Batch(func(tx *bolt.Tx) error {
		data, meta := tx.Bucket(dataBucket), tx.Bucket(metaBucket)
		if err := e.checkConds(data, conds); err != nil {
			return err
		}
		if v := meta.Get(revKey); len(v) == 8 {
			rev = int64(binary.BigEndian.Uint64(v))
		}
		rev++
		events = events[:0]
		for _, op := range ops {
			k := []byte(op.Key)
			switch {
			case op.Delete && op.Prefix:
				c := data.Cursor()
				for ck, _ := c.Seek(k); ck != nil && bytes.HasPrefix(ck, k); ck, _ = c.Seek(k) {
					events = append(events, kv.Event{Key: string(ck), Rev: rev, Deleted: true})
					if err := c.Delete(); err != nil {
						return err
					}
				}
			case op.Delete:
				if data.Get(k) != nil {
					events = append(events, kv.Event{Key: op.Key, Rev: rev, Deleted: true})
					if err := data.Delete(k); err != nil {
						return err
					}
				}
			default:
				v := make([]byte, 8+len(op.Value))
				binary.BigEndian.PutUint64(v, uint64(rev))
				copy(v[8:], op.Value)
				if err := data.Put(k, v); err != nil {
					return err
				}
				events = append(events, kv.Event{Key: op.Key, Rev: rev})
			}
		}
		return meta.Put(revKey, binary.BigEndian.AppendUint64(nil, uint64(rev)))
	})
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	e.notify(events)
	e.mu.Unlock()
	return rev, nil
}

// checkConds returns kv.ErrRevMismatch unless every condition holds in data.
func (e *Engine) checkConds(data *bolt.Bucket, conds []kv.Cond) error {
	for _, c := range conds {
		var have int64
		if v := data.Get([]byte(c.Key)); v != nil {
			var err error
			if have, _, err = e.split([]byte(c.Key), v); err != nil {
				return err
			}
		}
		if have != c.Rev {
			return kv.ErrRevMismatch
		}
	}
	return nil
}

// Close implements kv.Engine.
func (e *Engine) Close() error {
	e.mu.Lock()
	ws := e.watchers
	e.watchers = nil
	e.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	return e.db.Close()
}

// Path returns the file's path.
func (e *Engine) Path() string { return e.path }

// watchBuffer is how many events a watcher holds before it drops them (and says so).
const watchBuffer = 1024

type watcher struct {
	prefix string
	ch     chan kv.Event
	lost   bool
	once   sync.Once
}

func (w *watcher) stop() { w.once.Do(func() { close(w.ch) }) }

// Watch implements kv.Engine. Events of transactions committed together (see Txn) may
// arrive in either order; each carries its revision.
func (e *Engine) Watch(ctx context.Context, prefix string) (<-chan kv.Event, error) {
	w := &watcher{prefix: prefix, ch: make(chan kv.Event, watchBuffer)}
	e.mu.Lock()
	e.watchers = append(e.watchers, w)
	e.mu.Unlock()
	context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.watchers = slices.DeleteFunc(e.watchers, func(x *watcher) bool { return x == w })
		e.mu.Unlock()
		w.stop()
	})
	return w.ch, nil
}

// notify sends events to the watchers whose prefix they match; the caller holds e.mu.
func (e *Engine) notify(events []kv.Event) {
	for _, w := range e.watchers {
		for _, ev := range events {
			if len(ev.Key) < len(w.prefix) || ev.Key[:len(w.prefix)] != w.prefix {
				continue
			}
			if w.lost {
				select {
				case w.ch <- kv.Event{Lost: true}:
					w.lost = false
				default:
					continue
				}
			}
			select {
			case w.ch <- ev:
			default:
				w.lost = true
			}
		}
	}
}
