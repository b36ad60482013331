package kv

import (
	"io/fs"
	"sync/atomic"
)

// Swap holds the current content of a running server and replaces all of it atomically:
// readers that took a Snapshot before a Replace keep reading the old content to the end of
// their request, readers after it see only the new content, and none fails in between.
// Swap is a Store (each call reads the current snapshot); it is safe for concurrent use.
//
// The zero Swap is not usable; create one with NewSwap.
type Swap struct {
	cur      atomic.Pointer[Snapshot]
	watchers watchers
}

var _ Store = (*Swap)(nil)

// NewSwap returns a Swap holding a snapshot of initial (nil for no content).
func NewSwap(initial Store) *Swap {
	s := &Swap{}
	if initial == nil {
		s.cur.Store(Empty())
	} else {
		s.cur.Store(initial.Snapshot())
	}
	return s
}

// Replace makes a snapshot of content the current content and returns the previous one.
// Watchers are told of a change with All set.
func (s *Swap) Replace(content Store) (old *Snapshot) {
	n := content.Snapshot()
	old = s.cur.Swap(n)
	s.watchers.notify(n.Generation(), nil, true)
	return old
}

// Watch returns a Watcher told of every Replace (as a Change with All set).
func (s *Swap) Watch(prefix string) *Watcher { return s.watchers.watch(prefix) }

// Snapshot implements Store: the current content. It does not allocate.
func (s *Swap) Snapshot() *Snapshot { return s.cur.Load() }

// Generation implements Store.
func (s *Swap) Generation() uint64 { return s.cur.Load().Generation() }

// Get implements Store.
func (s *Swap) Get(key string) ([]byte, error) { return s.cur.Load().Get(key) }

// Info implements Store.
func (s *Swap) Info(key string) (Info, error) { return s.cur.Load().Info(key) }

// Lookup implements Store.
func (s *Swap) Lookup(key string) (*Entry, error) { return s.cur.Load().Lookup(key) }

// Exists implements Store.
func (s *Swap) Exists(key string) bool { return s.cur.Load().Exists(key) }

// List implements Store.
func (s *Swap) List(prefix string) ([]DirEntry, error) { return s.cur.Load().List(prefix) }

// Open implements fs.FS on the current content.
func (s *Swap) Open(name string) (fs.File, error) { return s.cur.Load().Open(name) }

// Stat implements fs.StatFS on the current content.
func (s *Swap) Stat(name string) (fs.FileInfo, error) { return s.cur.Load().Stat(name) }

// ReadDir implements fs.ReadDirFS on the current content.
func (s *Swap) ReadDir(name string) ([]fs.DirEntry, error) { return s.cur.Load().ReadDir(name) }

// ReadFile implements fs.ReadFileFS on the current content; it returns a copy.
func (s *Swap) ReadFile(name string) ([]byte, error) { return s.cur.Load().ReadFile(name) }
