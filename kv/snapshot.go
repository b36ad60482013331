package kv

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
)

// lastGeneration is the generation most recently given to new content. It is the package's
// one piece of mutable state: a counter, so that generations are unique in the process and a
// cache keyed by generation can never confuse two contents, whatever stores they come from.
var lastGeneration atomic.Uint64

// nextGeneration returns a new generation number, greater than all before it.
func nextGeneration() uint64 { return lastGeneration.Add(1) }

// Snapshot is an immutable view of a store's content: a consistent set of entries that no
// write can change. It is itself a Store, safe for concurrent use. Taking a snapshot of a
// store does not copy the content; a Snapshot's Snapshot method returns itself.
type Snapshot struct {
	gen     uint64
	entries map[string]*Entry
	keys    []string              // sorted
	dirs    map[string][]DirEntry // directory key ("" for the root) -> children sorted by name
}

var _ Store = (*Snapshot)(nil)

// newSnapshot builds a snapshot of entries, which it takes over, with generation gen. Every
// entry's key must be valid and equal to its map key. It fails with ErrConflict if a key is
// both an entry and a prefix of another key.
func newSnapshot(entries map[string]*Entry, gen uint64) (*Snapshot, error) {
	s := &Snapshot{gen: gen, entries: entries, keys: make([]string, 0, len(entries))}
	for k := range entries {
		s.keys = append(s.keys, k)
	}
	slices.Sort(s.keys)
	children := map[string]map[string]bool{"": {}}
	for _, k := range s.keys {
		// Register k in its directory, then each new directory in its parent. A directory
		// already known has its parents registered.
		child, isDir := k, false
		for {
			d := parentDir(child)
			m, known := children[d]
			if !known {
				m = map[string]bool{}
				children[d] = m
			}
			m[baseName(child)] = m[baseName(child)] || isDir
			if d == "" || known {
				break
			}
			child, isDir = d, true
		}
	}
	s.dirs = make(map[string][]DirEntry, len(children))
	for d, m := range children {
		if _, ok := entries[d]; ok {
			return nil, fmt.Errorf("%w: %q is an entry and a directory", ErrConflict, d)
		}
		list := make([]DirEntry, 0, len(m))
		for name, isDir := range m {
			list = append(list, DirEntry{Name: name, Dir: isDir})
		}
		slices.SortFunc(list, func(a, b DirEntry) int { return cmp.Compare(a.Name, b.Name) })
		s.dirs[d] = list
	}
	return s, nil
}

// Empty returns a snapshot with no entries.
func Empty() *Snapshot {
	s, _ := newSnapshot(map[string]*Entry{}, nextGeneration())
	return s
}

// Generation returns the snapshot's generation: a number given to every new content (every
// change of a Mem, every snapshot loaded), unique in the process and greater than every
// generation given before it. Equal generations mean identical content.
func (s *Snapshot) Generation() uint64 { return s.gen }

// Snapshot returns s.
func (s *Snapshot) Snapshot() *Snapshot { return s }

// Len returns the number of entries.
func (s *Snapshot) Len() int { return len(s.keys) }

// All returns the entries in key order. The entries are shared and read-only.
func (s *Snapshot) All() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		for _, k := range s.keys {
			if !yield(s.entries[k]) {
				return
			}
		}
	}
}

// miss returns the error for a key that is not an entry.
func miss(key string) error {
	if !ValidKey(key) {
		return ErrInvalidKey
	}
	return ErrNotFound
}

// Lookup implements Store.
func (s *Snapshot) Lookup(key string) (*Entry, error) {
	if e, ok := s.entries[key]; ok {
		return e, nil
	}
	return nil, miss(key)
}

// LookupBytes is Lookup with the key in a byte slice, which it does not retain: a server
// that tries several candidates for one request ("about", "about.html", "about/index.html")
// builds each in a reusable buffer and looks it up without allocating.
func (s *Snapshot) LookupBytes(key []byte) (*Entry, error) {
	if e, ok := s.entries[string(key)]; ok {
		return e, nil
	}
	if !ValidKey(string(key)) {
		return nil, ErrInvalidKey
	}
	return nil, ErrNotFound
}

// Get implements Store.
func (s *Snapshot) Get(key string) ([]byte, error) {
	if e, ok := s.entries[key]; ok {
		return e.Data, nil
	}
	return nil, miss(key)
}

// Info implements Store.
func (s *Snapshot) Info(key string) (Info, error) {
	if e, ok := s.entries[key]; ok {
		return e.Info, nil
	}
	return Info{}, miss(key)
}

// Exists implements Store.
func (s *Snapshot) Exists(key string) bool {
	_, ok := s.entries[key]
	return ok
}

// IsDir reports whether prefix is a directory: the root "" or a prefix of some key.
func (s *Snapshot) IsDir(prefix string) bool {
	_, ok := s.dirs[prefix]
	return ok
}

// List implements Store.
func (s *Snapshot) List(prefix string) ([]DirEntry, error) {
	if l, ok := s.dirs[prefix]; ok {
		return l, nil
	}
	if !validPrefix(prefix) {
		return nil, ErrInvalidKey
	}
	return nil, ErrNotFound
}

// Keys returns the keys under prefix ("" for all) in order, entries only.
func (s *Snapshot) Keys(prefix string) iter.Seq[string] {
	return func(yield func(string) bool) {
		keys := s.keys
		if prefix != "" {
			lo, _ := slices.BinarySearch(keys, prefix+"/")
			hi, _ := slices.BinarySearch(keys, prefix+"0") // '0' follows '/'
			keys = keys[lo:hi]
		}
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// hasPrefixKey reports whether key is prefix or below it ("" matches everything).
func hasPrefixKey(key, prefix string) bool {
	return prefix == "" || key == prefix || (strings.HasPrefix(key, prefix) && key[len(prefix)] == '/')
}
