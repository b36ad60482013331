package kv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultChunkSize is the size of the chunks a [DB] stores values in: below etcd's default
// request limit of 1.5 MiB with room for the request's framing.
const DefaultChunkSize = 1 << 20

// Key spaces of a DB inside its engine.
const (
	headerSpace  = "m/" // m/KEY: the record header of KEY
	chunkSpace   = "c/" // c/GEN/INDEX: chunk INDEX of the value written as generation GEN
	pendingSpace = "p/" // p/GEN: a value of several chunks being written (for Sweep)
)

// DB is the durable read-write store: values of any size under string keys, on an [Engine]
// (a local bbolt file, an etcd cluster). It stores each value in chunks of at most
// DefaultChunkSize bytes (etcd refuses larger values) under a header that holds the value's
// SHA-256 digest, each chunk's, and the application's metadata. Every read checks the
// digests: damaged data gives ErrCorrupt and is never handed out.
//
// A value is written chunk by chunk as it is read from its io.Reader, never held whole, and
// appears at once, with all its chunks, when its header is committed by the last
// transaction: a reader sees the whole previous value or the whole new one, and a write
// interrupted by a crash leaves only unreferenced chunks, which [DB.Sweep] removes.
//
// Writes can be made conditional on the key's revision (compare-and-swap): PutOptions.Match
// and DeleteOptions.Match. Its methods are safe for concurrent use, also by several
// processes sharing one engine (etcd).
type DB struct {
	e         Engine
	chunkSize int
	bufs      sync.Pool // *[]byte of chunkSize
}

// DBConfig configures a DB; nil or zero fields mean the defaults.
type DBConfig struct {
	// ChunkSize is the chunk size of new values; default DefaultChunkSize.
	ChunkSize int
}

// NewDB returns a DB on e. Closing the DB closes e.
func NewDB(e Engine, cfg *DBConfig) *DB {
	d := &DB{e: e, chunkSize: DefaultChunkSize}
	if cfg != nil && cfg.ChunkSize > 0 {
		d.chunkSize = cfg.ChunkSize
	}
	d.bufs.New = func() any { b := make([]byte, d.chunkSize); return &b }
	return d
}

// Engine returns the engine the DB stores its values in.
func (d *DB) Engine() Engine { return d.e }

// Close closes the engine.
func (d *DB) Close() error { return d.e.Close() }

// PutOptions are the options of [DB.Put].
type PutOptions struct {
	// Meta is stored with the value and returned in its Record; keep it small (it is read by
	// List).
	Meta []byte
	// Match makes the write conditional: it happens only if the key's revision is Rev (0: the
	// key must be absent); otherwise Put returns ErrRevMismatch and stores nothing.
	Match bool
	Rev   int64
}

// DeleteOptions are the options of [DB.Delete].
type DeleteOptions struct {
	// Match makes the delete conditional on the key's revision being Rev; otherwise Delete
	// returns ErrRevMismatch.
	Match bool
	Rev   int64
}

// Put stores the bytes of r under key, reading r to its end, and returns the new record. It
// never holds more than one chunk of the value in memory. If r fails, ctx ends or the
// condition does not hold, nothing is stored and Put returns the error (r's unwrapped).
func (d *DB) Put(ctx context.Context, key string, r io.Reader, o *PutOptions) (Record, error) {
	if o == nil {
		o = &PutOptions{}
	}
	if len(o.Meta) > 1<<20 {
		return Record{}, fmt.Errorf("kv: %s: metadata of %d bytes is too large", key, len(o.Meta))
	}
	h := header{chunkSize: d.chunkSize, gen: newGeneration(), meta: o.Meta}
	bp := d.bufs.Get().(*[]byte)
	defer d.bufs.Put(bp)
	buf := *bp
	sum := sha256.New()
	var pending bool // the pending marker is stored
	for {
		n, rerr := io.ReadFull(r, buf)
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			rerr = nil
		case rerr != nil:
			d.abandon(ctx, h.gen, pending)
			return Record{}, rerr
		}
		last := n < len(buf) // a full chunk may be the last: the next read then finds nothing
		var ops []Op
		if n > 0 {
			sum.Write(buf[:n])
			h.chunks = append(h.chunks, sha256.Sum256(buf[:n]))
			ops = append(ops, Op{Key: chunkKey(h.gen, len(h.chunks)-1), Value: buf[:n]})
			h.size += int64(n)
		}
		if last {
			copy(h.digest[:], sum.Sum(nil))
			rec, err := d.commit(ctx, key, &h, ops, pending, o)
			if err != nil {
				d.abandon(ctx, h.gen, pending)
			}
			return rec, err
		}
		if !pending {
			ops = append(ops, Op{Key: pendingSpace + h.gen, Value: []byte(key)})
		}
		if _, err := d.e.Txn(ctx, nil, ops); err != nil {
			d.abandon(ctx, h.gen, pending)
			return Record{}, err
		}
		pending = true
	}
}

// commit writes the last chunk (in ops) and the header of a value, replacing (and deleting
// the chunks of) the key's previous value, if the condition of o holds.
func (d *DB) commit(ctx context.Context, key string, h *header, ops []Op, pending bool, o *PutOptions) (Record, error) {
	ops = append(ops, Op{Key: headerSpace + key, Value: h.encode()})
	if pending {
		ops = append(ops, Op{Key: pendingSpace + h.gen, Delete: true})
	}
	for {
		old, oldRev, err := d.header(ctx, key)
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
			return Record{}, err
		}
		if o.Match && oldRev != o.Rev {
			return Record{}, fmt.Errorf("%w: %s is at revision %d, not %d", ErrRevMismatch, key, oldRev, o.Rev)
		}
		all := ops
		if old.gen != "" {
			all = append(ops[:len(ops):len(ops)], Op{Key: chunkSpace + old.gen + "/", Delete: true, Prefix: true})
		}
		rev, err := d.e.Txn(ctx, []Cond{{Key: headerSpace + key, Rev: oldRev}}, all)
		if errors.Is(err, ErrRevMismatch) {
			continue // written meanwhile: check the condition again against the new value
		}
		if err != nil {
			return Record{}, err
		}
		return Record{Key: key, Rev: rev, Size: h.size, Digest: h.digest, Meta: h.meta}, nil
	}
}

// abandon deletes the chunks of a failed write, best effort: what it misses, Sweep removes.
func (d *DB) abandon(ctx context.Context, gen string, pending bool) {
	if !pending {
		return // nothing was stored
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	d.e.Txn(ctx, nil, []Op{
		{Key: chunkSpace + gen + "/", Delete: true, Prefix: true},
		{Key: pendingSpace + gen, Delete: true},
	})
}

// header reads and decodes the header of key. A damaged header gives ErrCorrupt, with the
// revision of the damaged header.
func (d *DB) header(ctx context.Context, key string) (header, int64, error) {
	var h header
	var rev int64
	err := d.e.View(ctx, headerSpace+key, func(val []byte, r int64) error {
		rev = r
		var err error
		h, err = decodeHeader(val)
		return err
	})
	if errors.Is(err, errBadHeader) {
		return header{}, rev, fmt.Errorf("%w: %s: %v", ErrCorrupt, key, err)
	}
	return h, rev, err
}

// Stat returns the record of key without reading its value; ErrNotFound if absent.
func (d *DB) Stat(ctx context.Context, key string) (Record, error) {
	h, rev, err := d.header(ctx, key)
	if err != nil {
		return Record{}, err
	}
	return h.record(key, rev), nil
}

func (h *header) record(key string, rev int64) Record {
	return Record{Key: key, Rev: rev, Size: h.size, Digest: h.digest, Meta: h.meta}
}

// Get calls fn with the record and the whole value of key, checked against its digest. A
// value of one chunk is handed over without a copy where the engine allows it: val is valid
// only until fn returns and must not be modified. Larger values are assembled in memory; use
// Open to stream them. It returns ErrNotFound if key is absent, ErrCorrupt if the value fails
// its check (fn is then not called), or fn's error.
func (d *DB) Get(ctx context.Context, key string, fn func(rec Record, val []byte) error) error {
	for {
		h, rev, err := d.header(ctx, key)
		if err != nil {
			return err
		}
		rec := h.record(key, rev)
		switch len(h.chunks) {
		case 0:
			return fn(rec, nil)
		case 1:
			err = d.e.View(ctx, chunkKey(h.gen, 0), func(val []byte, _ int64) error {
				if int64(len(val)) != h.size || sha256.Sum256(val) != h.digest {
					return fmt.Errorf("%w: %s: the value does not match its SHA-256", ErrCorrupt, key)
				}
				return fn(rec, val)
			})
		default:
			buf := make([]byte, h.size)
			if _, err = io.ReadFull(d.reader(ctx, key, h, rev), buf); err == nil {
				return fn(rec, buf)
			}
		}
		if retry, rerr := d.replaced(ctx, key, rev, err); !retry {
			return rerr
		}
	}
}

// replaced interprets a chunk that was not found: if the key was rewritten or deleted since
// revision rev, the read should start again (retry); otherwise the chunk is missing from a
// value that references it, which is damage.
func (d *DB) replaced(ctx context.Context, key string, rev int64, err error) (retry bool, _ error) {
	if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	_, now, herr := d.header(ctx, key)
	if herr == nil && now != rev || errors.Is(herr, ErrNotFound) {
		return true, nil
	}
	return false, fmt.Errorf("%w: %s: %v", ErrCorrupt, key, errChunkMissing)
}

var errChunkMissing = errors.New("a chunk of the value is missing")

// Open returns a reader of the value of key, which reads it chunk by chunk and checks each
// chunk against its digest before handing out any of its bytes (and, when read to the end
// from the start, the whole value against its own). ErrNotFound if key is absent.
func (d *DB) Open(ctx context.Context, key string) (*ValueReader, error) {
	h, rev, err := d.header(ctx, key)
	if err != nil {
		return nil, err
	}
	return d.reader(ctx, key, h, rev), nil
}

func (d *DB) reader(ctx context.Context, key string, h header, rev int64) *ValueReader {
	return &ValueReader{d: d, ctx: ctx, h: h, rec: h.record(key, rev), chunk: -1, sum: sha256.New()}
}

// Delete deletes key and its value; ErrNotFound if absent, ErrRevMismatch if o's condition
// does not hold.
func (d *DB) Delete(ctx context.Context, key string, o *DeleteOptions) error {
	for {
		h, rev, err := d.header(ctx, key)
		if err != nil && !(errors.Is(err, ErrCorrupt) && rev != 0) {
			return err
		}
		if o != nil && o.Match && rev != o.Rev {
			return fmt.Errorf("%w: %s is at revision %d, not %d", ErrRevMismatch, key, rev, o.Rev)
		}
		ops := []Op{{Key: headerSpace + key, Delete: true}}
		if h.gen != "" {
			ops = append(ops, Op{Key: chunkSpace + h.gen + "/", Delete: true, Prefix: true})
		}
		_, err = d.e.Txn(ctx, []Cond{{Key: headerSpace + key, Rev: rev}}, ops)
		if errors.Is(err, ErrRevMismatch) {
			continue
		}
		return err
	}
}

// List returns the records of the keys that start with prefix, sorted by key, from one
// consistent view. A damaged header fails the whole List with ErrCorrupt.
func (d *DB) List(ctx context.Context, prefix string) ([]Record, error) {
	var recs []Record
	err := d.e.Range(ctx, headerSpace+prefix, func(k string, val []byte, rev int64) error {
		key := k[len(headerSpace):]
		h, err := decodeHeader(val)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, key, err)
		}
		recs = append(recs, h.record(key, rev))
		return nil
	})
	return recs, err
}

// Watch reports the keys that start with prefix as they are written (Event.Deleted unset)
// or deleted, until ctx is done, when it closes the channel. See [Engine.Watch].
func (d *DB) Watch(ctx context.Context, prefix string) (<-chan Event, error) {
	in, err := d.e.Watch(ctx, headerSpace+prefix)
	if err != nil {
		return nil, err
	}
	out := make(chan Event, cap(in))
	go func() {
		defer close(out)
		for ev := range in {
			if !ev.Lost {
				ev.Key = strings.TrimPrefix(ev.Key, headerSpace)
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				for range in { // let the engine's watcher close
				}
				return
			}
		}
	}()
	return out, nil
}

// Sweep deletes the chunks of writes of several chunks that began more than age ago and
// never committed (the process writing them crashed), and returns how many it removed.
// With several processes on one engine, give an age longer than any write takes.
func (d *DB) Sweep(ctx context.Context, age time.Duration) (int, error) {
	type stale struct {
		gen string
		rev int64
	}
	var found []stale
	cutoff := time.Now().Add(-age).UnixNano()
	err := d.e.Range(ctx, pendingSpace, func(k string, _ []byte, rev int64) error {
		gen := k[len(pendingSpace):]
		if t, ok := generationTime(gen); ok && t < cutoff {
			found = append(found, stale{gen, rev})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range found {
		_, err := d.e.Txn(ctx, []Cond{{Key: pendingSpace + s.gen, Rev: s.rev}}, []Op{
			{Key: chunkSpace + s.gen + "/", Delete: true, Prefix: true},
			{Key: pendingSpace + s.gen, Delete: true},
		})
		switch {
		case err == nil:
			n++
		case !errors.Is(err, ErrRevMismatch):
			return n, err
		}
	}
	return n, nil
}

// chunkKey returns the engine key of chunk i of generation gen; the fixed width keeps the
// chunks in order.
func chunkKey(gen string, i int) string {
	return fmt.Sprintf("%s%s/%08x", chunkSpace, gen, i)
}

// newGeneration returns a fresh name for the chunks of one write: the time in hexadecimal
// nanoseconds (read back by Sweep) and 64 random bits.
func newGeneration() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%016x", time.Now().UnixNano()) + hex.EncodeToString(b[:])
}

// generationTime returns the time a generation was made, in Unix nanoseconds.
func generationTime(gen string) (int64, bool) {
	if len(gen) < 16 {
		return 0, false
	}
	t, err := strconv.ParseUint(gen[:16], 16, 63)
	return int64(t), err == nil
}
