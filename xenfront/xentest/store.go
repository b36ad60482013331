package xentest

import (
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/xenstore"
)

// Store is a simulated xenstored: a tree of string values with watches and transactions. A
// transaction works on a snapshot and its commit fails with EAGAIN when anything changed in
// between, as in the original xenstored. Permissions are not modelled: every domain may read
// and write every path.
type Store struct {
	mu       sync.Mutex
	nodes    map[string]string // absolute path -> value; parents exist for every node
	gen      uint64            // bumped by every committed change
	txs      map[xenstore.TxID]*storeTx
	txSeq    xenstore.TxID
	watches  map[*storeWatch]struct{}
	failNext int // commits to fail with EAGAIN, for tests
}

type storeTx struct {
	base    uint64
	nodes   map[string]string
	changed []string
}

type storeWatch struct {
	path string
	c    chan string
}

func newStore() *Store {
	return &Store{nodes: map[string]string{"/": ""}, txs: map[xenstore.TxID]*storeTx{},
		watches: map[*storeWatch]struct{}{}}
}

// FailCommits makes the next n transaction commits fail with EAGAIN, so tests can check that
// clients redo their transactions.
func (s *Store) FailCommits(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// under reports whether p is at or below dir.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

func (s *Store) fire(paths []string) {
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
	s   *Store
	dom xenfront.DomID
}

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

func (v *storeView) Write(tx xenstore.TxID, path, value string) error {
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
	changed := write(nodes, p, value)
	if t != nil {
		t.changed = append(t.changed, changed...)
		return nil
	}
	v.s.gen++
	v.s.fire(changed)
	return nil
}

func (v *storeView) Remove(tx xenstore.TxID, path string) error {
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
	if _, ok := nodes[p]; !ok {
		return xenstore.ErrNotFound
	}
	changed := remove(nodes, p)
	if t != nil {
		t.changed = append(t.changed, changed...)
		return nil
	}
	v.s.gen++
	v.s.fire(changed)
	return nil
}

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

func (v *storeView) Start() (xenstore.TxID, error) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	v.s.txSeq++
	v.s.txs[v.s.txSeq] = &storeTx{base: v.s.gen, nodes: maps.Clone(v.s.nodes)}
	return v.s.txSeq, nil
}

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

// Serve answers xenstore wire-protocol requests from domain dom read from conn (for example a
// xenstore.Ring on xenstored's side) until reading fails, then removes the connection's
// watches and returns the error.
func (s *Store) Serve(conn io.ReadWriter, dom xenfront.DomID) error {
	v := &storeView{s: s, dom: dom}
	var wmu sync.Mutex
	send := func(h xenstore.Header, parts ...[]byte) {
		msg, err := xenstore.AppendMessage(nil, h, parts...)
		if err != nil {
			msg, _ = xenstore.AppendMessage(nil, xenstore.Header{Type: xenstore.MsgError, ReqID: h.ReqID, TxID: h.TxID}, []byte("E2BIG\x00"))
		}
		wmu.Lock()
		_, _ = conn.Write(msg)
		wmu.Unlock()
	}
	type watchKey struct{ path, token string }
	watches := map[watchKey]*xenstore.Watch{}
	var wg sync.WaitGroup
	defer func() {
		for _, w := range watches {
			w.Close()
		}
		wg.Wait()
	}()
	buf := make([]byte, xenstore.HeaderLen+xenstore.PayloadMax)
	for {
		h, p, err := xenstore.ReadMessage(conn, buf)
		if err != nil {
			return err
		}
		args := xenstore.SplitNul(p)
		arg := func(i int) string {
			if i < len(args) {
				return args[i]
			}
			return ""
		}
		reply := xenstore.Header{Type: h.Type, ReqID: h.ReqID, TxID: h.TxID}
		var out []byte
		err = nil
		switch h.Type {
		case xenstore.MsgRead:
			var val string
			val, err = v.Read(h.TxID, arg(0))
			out = []byte(val)
		case xenstore.MsgWrite:
			i := strings.IndexByte(string(p), 0)
			if i < 0 {
				err = xenstore.Error("EINVAL")
				break
			}
			err = v.Write(h.TxID, string(p[:i]), string(p[i+1:]))
			out = []byte("OK\x00")
		case xenstore.MsgRm:
			err = v.Remove(h.TxID, arg(0))
			out = []byte("OK\x00")
		case xenstore.MsgDirectory:
			var names []string
			names, err = v.Directory(h.TxID, arg(0))
			for _, n := range names {
				out = append(append(out, n...), 0)
			}
		case xenstore.MsgTransactionStart:
			var tx xenstore.TxID
			tx, err = v.Start()
			out = append(strconv.AppendUint(nil, uint64(tx), 10), 0)
		case xenstore.MsgTransactionEnd:
			err = v.End(h.TxID, arg(0) == "T")
			out = []byte("OK\x00")
		case xenstore.MsgWatch:
			k := watchKey{arg(0), arg(1)}
			var w *xenstore.Watch
			if w, err = v.Watch(k.path); err == nil {
				if old := watches[k]; old != nil {
					old.Close()
				}
				watches[k] = w
				wg.Add(1)
				go func() {
					defer wg.Done()
					for path := range w.C {
						send(xenstore.Header{Type: xenstore.MsgWatchEvent}, []byte(path+"\x00"), []byte(k.token+"\x00"))
					}
				}()
			}
			out = []byte("OK\x00")
		case xenstore.MsgUnwatch:
			k := watchKey{arg(0), arg(1)}
			if w := watches[k]; w != nil {
				w.Close()
				delete(watches, k)
			} else {
				err = xenstore.ErrNotFound
			}
			out = []byte("OK\x00")
		default:
			err = xenstore.Error("ENOSYS")
		}
		if err != nil {
			var se xenstore.Error
			if e, ok := err.(xenstore.Error); ok {
				se = e
			} else {
				se = "EINVAL"
			}
			send(xenstore.Header{Type: xenstore.MsgError, ReqID: h.ReqID, TxID: h.TxID}, []byte(string(se)+"\x00"))
			continue
		}
		send(reply, out)
	}
}
