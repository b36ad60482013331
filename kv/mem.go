package kv

import (
	"fmt"
	"io/fs"
	"maps"
	"sync"
	"sync/atomic"
)

// MemConfig configures a Mem. The zero value (or nil) gives no precompressed variants.
type MemConfig struct {
	// Encodings lists the content encodings (EncodingGzip, ...) to precompute, on each write,
	// for entries of compressible types. A variant is kept only if smaller than the content.
	Encodings []string
}

// Mem is the in-memory read-write store. Writes build the entry (digest, content type,
// variants) before taking the store's lock; readers are never blocked by that work. Reads
// answer from the current content without allocating; Snapshot returns an immutable view
// that it builds once after each change (costing time proportional to the number of
// entries) and then hands out without allocating. Use a Batch for many changes at once.
//
// The zero Mem is not usable; create one with NewMem.
type Mem struct {
	cfg      MemConfig
	watchers watchers

	mu      sync.RWMutex // guards the fields below
	entries map[string]*Entry
	dirs    map[string]int // directory key (not the root) -> number of entries below it
	gen     uint64

	snap    atomic.Pointer[Snapshot] // the current content's snapshot; nil until built
	buildMu sync.Mutex               // one Snapshot builds at a time; the others wait for it
}

var _ ReadWriter = (*Mem)(nil)

// NewMem returns an empty store. A nil cfg means the zero MemConfig.
func NewMem(cfg *MemConfig) *Mem {
	m := &Mem{entries: map[string]*Entry{}, dirs: map[string]int{}, gen: nextGeneration()}
	if cfg != nil {
		m.cfg = *cfg
		m.cfg.Encodings = append([]string(nil), cfg.Encodings...)
	}
	return m
}

// NewMemFrom returns a store holding the entries of s (shared, not copied), with the
// given configuration for later writes.
func NewMemFrom(s Store, cfg *MemConfig) *Mem {
	m := NewMem(cfg)
	for e := range s.Snapshot().All() {
		m.insert(m.entries, m.dirs, e)
	}
	return m
}

// Get implements Store.
func (m *Mem) Get(key string) ([]byte, error) {
	m.mu.RLock()
	e, ok := m.entries[key]
	m.mu.RUnlock()
	if ok {
		return e.Data, nil
	}
	return nil, miss(key)
}

// Info implements Store.
func (m *Mem) Info(key string) (Info, error) {
	m.mu.RLock()
	e, ok := m.entries[key]
	m.mu.RUnlock()
	if ok {
		return e.Info, nil
	}
	return Info{}, miss(key)
}

// Lookup implements Store.
func (m *Mem) Lookup(key string) (*Entry, error) {
	m.mu.RLock()
	e, ok := m.entries[key]
	m.mu.RUnlock()
	if ok {
		return e, nil
	}
	return nil, miss(key)
}

// Exists implements Store.
func (m *Mem) Exists(key string) bool {
	m.mu.RLock()
	_, ok := m.entries[key]
	m.mu.RUnlock()
	return ok
}

// List implements Store.
func (m *Mem) List(prefix string) ([]DirEntry, error) { return m.Snapshot().List(prefix) }

// Generation implements Store.
func (m *Mem) Generation() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.gen
}

// Snapshot implements Store.
func (m *Mem) Snapshot() *Snapshot {
	if s := m.snap.Load(); s != nil {
		return s
	}
	// Many readers may find the snapshot gone after a change: one builds, the rest wait
	// for it instead of each copying the index.
	m.buildMu.Lock()
	defer m.buildMu.Unlock()
	if s := m.snap.Load(); s != nil {
		return s
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if s := m.snap.Load(); s != nil && s.gen == m.gen {
		return s
	}
	s, err := newSnapshot(maps.Clone(m.entries), m.gen)
	if err != nil {
		// Writes keep entries free of conflicts, so this is a bug in this package.
		panic(fmt.Sprintf("kv: inconsistent Mem: %v", err))
	}
	// Publish it unless a newer one got there first (a write clears snap under the write
	// lock, which cannot be held while we hold the read lock).
	m.snap.CompareAndSwap(nil, s)
	return s
}

// Open implements fs.FS on the current content.
func (m *Mem) Open(name string) (fs.File, error) { return m.Snapshot().Open(name) }

// Stat implements fs.StatFS on the current content.
func (m *Mem) Stat(name string) (fs.FileInfo, error) { return m.Snapshot().Stat(name) }

// ReadDir implements fs.ReadDirFS on the current content.
func (m *Mem) ReadDir(name string) ([]fs.DirEntry, error) { return m.Snapshot().ReadDir(name) }

// ReadFile implements fs.ReadFileFS on the current content; it returns a copy.
func (m *Mem) ReadFile(name string) ([]byte, error) {
	if ValidKey(name) {
		if b, err := m.Get(name); err == nil {
			return append([]byte(nil), b...), nil
		}
	}
	return m.Snapshot().ReadFile(name)
}

// Set implements ReadWriter.
func (m *Mem) Set(key string, data []byte) error { return m.SetMeta(key, data, Meta{}) }

// SetMeta implements ReadWriter.
func (m *Mem) SetMeta(key string, data []byte, meta Meta) error {
	var b Batch
	b.SetMeta(key, data, meta)
	return m.Apply(&b)
}

// Remove implements ReadWriter.
func (m *Mem) Remove(key string) error {
	var b Batch
	b.Remove(key)
	return m.Apply(&b)
}

// Rename implements ReadWriter.
func (m *Mem) Rename(from, to string) error {
	var b Batch
	b.Rename(from, to)
	return m.Apply(&b)
}

// Watch implements ReadWriter.
func (m *Mem) Watch(prefix string) *Watcher { return m.watchers.watch(prefix) }

// Apply implements ReadWriter. Entries are built (digests, variants) before the store is
// locked; then every operation is checked and applied to a copy of the index, which replaces
// the index only if all succeed. An error names the failing operation and wraps
// ErrInvalidKey, ErrNotFound or ErrConflict.
func (m *Mem) Apply(b *Batch) error {
	if b == nil || len(b.ops) == 0 {
		return nil
	}
	built := make([]*Entry, len(b.ops))
	for i, op := range b.ops {
		if op.kind != opSet {
			continue
		}
		if !ValidKey(op.key) {
			return &OpError{Op: "set", Key: op.key, Err: ErrInvalidKey}
		}
		meta := op.meta
		if meta.ModTime.IsZero() {
			meta.ModTime = now()
		}
		e, err := newEntry(op.key, op.data, meta, m.cfg.Encodings)
		if err != nil {
			return &OpError{Op: "set", Key: op.key, Err: err}
		}
		built[i] = e
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	entries, dirs := m.entries, m.dirs
	if len(b.ops) > 1 {
		entries, dirs = maps.Clone(entries), maps.Clone(dirs)
	}
	changed := make([]string, 0, len(b.ops)+1)
	for i, op := range b.ops {
		var err error
		switch op.kind {
		case opSet:
			err = m.set(entries, dirs, built[i])
			changed = append(changed, op.key)
		case opRemove:
			err = m.remove(entries, dirs, op.key)
			changed = append(changed, op.key)
		case opRename:
			err = m.rename(entries, dirs, op.key, op.to)
			changed = append(changed, op.key, op.to)
		}
		if err != nil {
			return &OpError{Op: op.kind.String(), Key: op.key, Err: err}
		}
	}
	m.entries, m.dirs = entries, dirs
	m.gen = nextGeneration()
	m.snap.Store(nil)
	m.watchers.notify(m.gen, changed, false)
	return nil
}

// set puts e into entries, checking for conflicts first; on error nothing changed.
func (m *Mem) set(entries map[string]*Entry, dirs map[string]int, e *Entry) error {
	if dirs[e.Key] > 0 {
		return ErrConflict
	}
	for d := parentDir(e.Key); d != ""; d = parentDir(d) {
		if _, ok := entries[d]; ok {
			return ErrConflict
		}
	}
	if _, ok := entries[e.Key]; ok {
		entries[e.Key] = e
		return nil
	}
	m.insert(entries, dirs, e)
	return nil
}

// insert adds e, a new key without conflicts.
func (m *Mem) insert(entries map[string]*Entry, dirs map[string]int, e *Entry) {
	entries[e.Key] = e
	for d := parentDir(e.Key); d != ""; d = parentDir(d) {
		dirs[d]++
	}
}

func (m *Mem) remove(entries map[string]*Entry, dirs map[string]int, key string) error {
	if _, ok := entries[key]; !ok {
		return miss(key)
	}
	delete(entries, key)
	for d := parentDir(key); d != ""; d = parentDir(d) {
		if dirs[d]--; dirs[d] == 0 {
			delete(dirs, d)
		}
	}
	return nil
}

func (m *Mem) rename(entries map[string]*Entry, dirs map[string]int, from, to string) error {
	e, ok := entries[from]
	if !ok {
		return miss(from)
	}
	if !ValidKey(to) {
		return ErrInvalidKey
	}
	if from == to {
		return nil
	}
	if err := m.remove(entries, dirs, from); err != nil {
		return err
	}
	if err := m.set(entries, dirs, e.withKey(to)); err != nil {
		m.insert(entries, dirs, e) // undo: from was there without conflict
		return err
	}
	return nil
}

// OpError records a failed write: the operation, the key and the cause, which wraps one
// of the package's sentinel errors where one applies.
type OpError struct {
	Op  string // "set", "remove" or "rename"
	Key string
	Err error
}

// Error returns "kv: OP "KEY": cause".
func (e *OpError) Error() string {
	return "kv: " + e.Op + " " + fmt.Sprintf("%q", e.Key) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Batch is a list of writes to apply at once with ReadWriter.Apply: all of them or none,
// visible to readers together. The zero Batch is empty and ready to use. Operations apply in
// order, so a batch may set a key and rename it.
type Batch struct {
	ops []batchOp
}

type opKind uint8

const (
	opSet opKind = iota
	opRemove
	opRename
)

func (k opKind) String() string {
	switch k {
	case opSet:
		return "set"
	case opRemove:
		return "remove"
	default:
		return "rename"
	}
}

type batchOp struct {
	kind opKind
	key  string
	to   string
	data []byte
	meta Meta
}

// Set adds a write of data under key. The batch takes ownership of data.
func (b *Batch) Set(key string, data []byte) { b.SetMeta(key, data, Meta{}) }

// SetMeta adds a write of data under key with explicit metadata.
func (b *Batch) SetMeta(key string, data []byte, meta Meta) {
	b.ops = append(b.ops, batchOp{kind: opSet, key: key, data: data, meta: meta})
}

// Remove adds the removal of key.
func (b *Batch) Remove(key string) { b.ops = append(b.ops, batchOp{kind: opRemove, key: key}) }

// Rename adds the move of from to to.
func (b *Batch) Rename(from, to string) {
	b.ops = append(b.ops, batchOp{kind: opRename, key: from, to: to})
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() { clear(b.ops); b.ops = b.ops[:0] }
