package xentest

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// Xenstored is a simulated xenstored: a tree of string values with watches and transactions. A
// transaction works on a snapshot and its commit fails with EAGAIN when anything changed in
// between, as in the original xenstored. Permissions are not modelled: every domain may read
// and write every path.
type Xenstored struct {
	mu       sync.Mutex
	nodes    map[string]string // absolute path -> value; parents exist for every node
	gen      uint64            // bumped by every committed change
	txs      map[xenstore.TxID]*storeTx
	txSeq    xenstore.TxID
	watches  map[*storeWatch]struct{}
	failNext int // commits to fail with EAGAIN, for tests
}

// storeTx is an open transaction: a snapshot of the nodes taken at generation base, and the
// paths its writes changed, whose watches fire on commit.
type storeTx struct {
	base    uint64
	nodes   map[string]string
	changed []string
}

// storeWatch is a watch on path and below; c holds at most one unread event.
type storeWatch struct {
	path string
	c    chan string
}

// newXenstored returns a xenstored whose tree holds only the root.
func newXenstored() *Xenstored {
	return &Xenstored{nodes: map[string]string{"/": ""}, txs: map[xenstore.TxID]*storeTx{},
		watches: map[*storeWatch]struct{}{}}
}

// FailCommits makes the next n transaction commits fail with EAGAIN, so tests can check that
// clients redo their transactions.
func (s *Xenstored) FailCommits(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// under reports whether p is at or below dir.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// fire sends each watch the first of paths at or below its own, unless it has an unread
// event (store locked).
func (s *Xenstored) fire(paths []string) {
	for w := range s.watches {
		for _, p := range paths {
			if under(p, w.path) {
				select {
				case w.c <- p:
				default:
				}
				break
			}
		}
	}
}

// write sets p to v in nodes, creating missing parents, and returns the paths it changed.
func write(nodes map[string]string, p, v string) []string {
	changed := []string{p}
	nodes[p] = v
	for d := parent(p); d != ""; d = parent(d) {
		if _, ok := nodes[d]; ok {
			break
		}
		nodes[d] = ""
		changed = append(changed, d)
	}
	return changed
}

// remove deletes p and everything below it from nodes and returns the paths it removed.
func remove(nodes map[string]string, p string) []string {
	var changed []string
	for k := range nodes {
		if under(k, p) && k != "/" {
			delete(nodes, k)
			changed = append(changed, k)
		}
	}
	return changed
}

// parent returns the parent of absolute path p, or "" for the root.
func parent(p string) string {
	if p == "/" {
		return ""
	}
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// storeView is one domain's xenstore connection.
type storeView struct {
	s   *Xenstored
	dom xenfront.DomID
}

// abs resolves p, relative to the domain's home unless it starts with '/', and rejects
// paths xenstored would (EINVAL).
func (v *storeView) abs(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		p = "/local/domain/" + strconv.Itoa(int(v.dom)) + "/" + p
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		p = "/"
	}
	if strings.Contains(p, "//") || len(p) > 3072 || strings.ContainsRune(p, 0) {
		return "", xenstore.Error("EINVAL")
	}
	return p, nil
}

// nodesFor returns the map an operation works on, with the store locked.
func (v *storeView) nodesFor(tx xenstore.TxID) (map[string]string, *storeTx, error) {
	if tx == 0 {
		return v.s.nodes, nil, nil
	}
	t := v.s.txs[tx]
	if t == nil {
		return nil, nil, xenstore.Error("ENOENT")
	}
	return t.nodes, t, nil
}

// Read implements xenstore.Store.
func (v *storeView) Read(tx xenstore.TxID, path string) (string, error) {
	p, err := v.abs(path)
	if err != nil {
		return "", err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	nodes, _, err := v.nodesFor(tx)
	if err != nil {
		return "", err
	}
	val, ok := nodes[p]
	if !ok {
		return "", xenstore.ErrNotFound
	}
	return val, nil
}

// Write implements xenstore.Store.
func (v *storeView) Write(tx xenstore.TxID, path, value string) error {
	return v.update(tx, path, func(nodes map[string]string, p string) ([]string, error) {
		return write(nodes, p, value), nil
	})
}

// Remove implements xenstore.Store.
func (v *storeView) Remove(tx xenstore.TxID, path string) error {
	return v.update(tx, path, func(nodes map[string]string, p string) ([]string, error) {
		if _, ok := nodes[p]; !ok {
			return nil, xenstore.ErrNotFound
		}
		return remove(nodes, p), nil
	})
}

// update applies change at path to the nodes transaction tx works on, and records the paths
// it changed: in the transaction, or, outside any, as a new generation of the store whose
// watches fire.
func (v *storeView) update(tx xenstore.TxID, path string, change func(nodes map[string]string, p string) ([]string, error)) error {
	p, err := v.abs(path)
	if err != nil {
		return err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	nodes, t, err := v.nodesFor(tx)
	if err != nil {
		return err
	}
	changed, err := change(nodes, p)
	if err != nil {
		return err
	}
	if t != nil {
		t.changed = append(t.changed, changed...)
		return nil
	}
	v.s.gen++
	v.s.fire(changed)
	return nil
}

// Directory implements xenstore.Store.
func (v *storeView) Directory(tx xenstore.TxID, path string) ([]string, error) {
	p, err := v.abs(path)
	if err != nil {
		return nil, err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	nodes, _, err := v.nodesFor(tx)
	if err != nil {
		return nil, err
	}
	if _, ok := nodes[p]; !ok {
		return nil, xenstore.ErrNotFound
	}
	var out []string
	for k := range nodes {
		if k != p && parent(k) == p {
			out = append(out, k[strings.LastIndexByte(k, '/')+1:])
		}
	}
	slices.Sort(out)
	return out, nil
}

// Start implements xenstore.Store.
func (v *storeView) Start() (xenstore.TxID, error) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	v.s.txSeq++
	v.s.txs[v.s.txSeq] = &storeTx{base: v.s.gen, nodes: maps.Clone(v.s.nodes)}
	return v.s.txSeq, nil
}

// End implements xenstore.Store.
func (v *storeView) End(tx xenstore.TxID, commit bool) error {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	t := v.s.txs[tx]
	if t == nil {
		return xenstore.Error("ENOENT")
	}
	delete(v.s.txs, tx)
	if !commit {
		return nil
	}
	if v.s.failNext > 0 {
		v.s.failNext--
		return xenstore.ErrAgain
	}
	if t.base != v.s.gen {
		return xenstore.ErrAgain
	}
	v.s.nodes = t.nodes
	v.s.gen++
	v.s.fire(t.changed)
	return nil
}

// Watch implements xenstore.Store.
func (v *storeView) Watch(path string) (*xenstore.Watch, error) {
	p, err := v.abs(path)
	if err != nil {
		return nil, err
	}
	w := &storeWatch{path: p, c: make(chan string, 1)}
	w.c <- p // xenstored fires every new watch once
	v.s.mu.Lock()
	v.s.watches[w] = struct{}{}
	v.s.mu.Unlock()
	return xenstore.NewWatch(w.c, func() {
		v.s.mu.Lock()
		if _, ok := v.s.watches[w]; ok {
			delete(v.s.watches, w)
			close(w.c)
		}
		v.s.mu.Unlock()
	}), nil
}
