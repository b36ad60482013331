// Package kvtest is the conformance suite of kv's durable engines ([kv.Engine]): every
// engine runs it, through its own tests, against a real backend (a bbolt file, an etcd
// cluster). It checks the engine's primitives (revisions, conditional transactions, prefix
// deletes, ordered ranges, watches) and, through a [kv.DB] on it, values of any size with
// their digests: compare-and-swap, listing, streaming reads with seeks, interrupted writes,
// and damaged data refused.
package kvtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/kv"
)

// Open returns a fresh, empty engine for one test; the suite closes it.
type Open func(t *testing.T) kv.Engine

// Run runs the conformance suite, one subtest per property.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, kv.Engine)
	}{
		{"EngineTxn", testEngineTxn},
		{"EngineRange", testEngineRange},
		{"EngineWatch", testEngineWatch},
		{"PutGet", testPutGet},
		{"LargeValue", testLargeValue},
		{"CompareAndSwap", testCompareAndSwap},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ListDelete", testListDelete},
		{"OpenSeek", testOpenSeek},
		{"InterruptedPut", testInterruptedPut},
		{"Damage", testDamage},
		{"Watch", testWatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := open(t)
			defer e.Close()
			c.fn(t, e)
		})
	}
}

// smallChunks is the chunk size of the DBs of the suite, so that values of several chunks
// stay small; LargeValue uses the default.
var smallChunks = &kv.DBConfig{ChunkSize: 4096}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func value(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, n64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func n64(n int) uint64 { return uint64(n) }

func get(t *testing.T, db *kv.DB, key string) (kv.Record, []byte, error) {
	var rec kv.Record
	var got []byte
	err := db.Get(ctx(t), key, func(r kv.Record, v []byte) error {
		rec, got = r, bytes.Clone(v)
		return nil
	})
	return rec, got, err
}

func testEngineTxn(t *testing.T, e kv.Engine) {
	c := ctx(t)
	r1, err := e.Txn(c, []kv.Cond{{Key: "a", Rev: 0}}, []kv.Op{{Key: "a", Value: []byte("1")}})
	require.NoError(t, err)
	require.Positive(t, r1)
	_, err = e.Txn(c, []kv.Cond{{Key: "a", Rev: 0}}, []kv.Op{{Key: "a", Value: []byte("2")}})
	require.ErrorIs(t, err, kv.ErrRevMismatch, "a must be absent")
	r2, err := e.Txn(c, []kv.Cond{{Key: "a", Rev: r1}}, []kv.Op{{Key: "a", Value: []byte("2")}, {Key: "b", Value: []byte("x")}})
	require.NoError(t, err)
	require.Greater(t, r2, r1)
	require.NoError(t, e.View(c, "a", func(v []byte, rev int64) error {
		assert.Equal(t, "2", string(v))
		assert.Equal(t, r2, rev)
		return nil
	}))
	_, err = e.Txn(c, []kv.Cond{{Key: "a", Rev: r1}}, []kv.Op{{Key: "a", Delete: true}})
	require.ErrorIs(t, err, kv.ErrRevMismatch, "stale revision")
	err = e.View(c, "nope", func([]byte, int64) error { return nil })
	require.ErrorIs(t, err, kv.ErrNotFound)
	// A failed condition changes nothing, not even the other ops.
	_, err = e.Txn(c, []kv.Cond{{Key: "b", Rev: r1}}, []kv.Op{{Key: "c", Value: []byte("no")}})
	require.ErrorIs(t, err, kv.ErrRevMismatch)
	require.ErrorIs(t, e.View(c, "c", func([]byte, int64) error { return nil }), kv.ErrNotFound)
	// Deleting an absent key is no error.
	_, err = e.Txn(c, nil, []kv.Op{{Key: "zz", Delete: true}})
	require.NoError(t, err)
}

func testEngineRange(t *testing.T, e kv.Engine) {
	c := ctx(t)
	for _, k := range []string{"p/b", "p/a", "p/c/d", "q", "p"} {
		_, err := e.Txn(c, nil, []kv.Op{{Key: k, Value: []byte(k)}})
		require.NoError(t, err)
	}
	var keys []string
	require.NoError(t, e.Range(c, "p/", func(k string, v []byte, rev int64) error {
		assert.Equal(t, k, string(v))
		assert.Positive(t, rev)
		keys = append(keys, k)
		return nil
	}))
	require.Equal(t, []string{"p/a", "p/b", "p/c/d"}, keys)
	stop := errors.New("stop")
	n := 0
	require.ErrorIs(t, e.Range(c, "", func(string, []byte, int64) error { n++; return stop }), stop)
	require.Equal(t, 1, n)
	_, err := e.Txn(c, nil, []kv.Op{{Key: "p/", Delete: true, Prefix: true}})
	require.NoError(t, err)
	keys = nil
	require.NoError(t, e.Range(c, "", func(k string, _ []byte, _ int64) error { keys = append(keys, k); return nil }))
	require.Equal(t, []string{"p", "q"}, keys)
}

func testEngineWatch(t *testing.T, e kv.Engine) {
	c, cancel := context.WithCancel(ctx(t))
	ch, err := e.Watch(c, "w/")
	require.NoError(t, err)
	r1, err := e.Txn(c, nil, []kv.Op{{Key: "w/a", Value: []byte("1")}, {Key: "other", Value: []byte("x")}})
	require.NoError(t, err)
	r2, err := e.Txn(c, nil, []kv.Op{{Key: "w/a", Delete: true}})
	require.NoError(t, err)
	want := []kv.Event{{Key: "w/a", Rev: r1}, {Key: "w/a", Rev: r2, Deleted: true}}
	for _, w := range want {
		select {
		case ev := <-ch:
			require.Equal(t, w, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %+v", w)
		}
	}
	cancel()
	for range ch { // closed once ctx is done
	}
}

func testPutGet(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c := ctx(t)
	for _, n := range []int{0, 1, 4095, 4096, 4097, 3*4096 + 17} {
		key := fmt.Sprintf("v/%d", n)
		val := value(n, 1)
		rec, err := db.Put(c, key, bytes.NewReader(val), &kv.PutOptions{Meta: []byte("m" + key)})
		require.NoError(t, err, n)
		require.Equal(t, int64(n), rec.Size)
		require.Equal(t, kv.Digest(sha(val)), rec.Digest)
		got, data, err := get(t, db, key)
		require.NoError(t, err, n)
		require.Equal(t, rec, got)
		require.True(t, bytes.Equal(val, data), n)
		st, err := db.Stat(c, key)
		require.NoError(t, err)
		require.Equal(t, rec, st)
	}
	_, _, err := get(t, db, "v/none")
	require.ErrorIs(t, err, kv.ErrNotFound)
	// Overwriting replaces the value and removes the old chunks.
	_, err = db.Put(c, "v/12305", bytes.NewReader([]byte("short")), nil)
	require.NoError(t, err)
	_, data, err := get(t, db, "v/12305")
	require.NoError(t, err)
	require.Equal(t, "short", string(data))
	require.Equal(t, 6, countChunks(t, e), "one chunk each for 1, 4095, 4096 and the overwritten value, two for 4097; none of 0 or the old value")
}

func countChunks(t *testing.T, e kv.Engine) int {
	n := 0
	require.NoError(t, e.Range(ctx(t), "c/", func(string, []byte, int64) error { n++; return nil }))
	return n
}

func testLargeValue(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, nil)
	c := ctx(t)
	val := value(5<<20+123, 2) // 6 chunks of the default size: beyond etcd's value limit
	rec, err := db.Put(c, "big", bytes.NewReader(val), nil)
	require.NoError(t, err)
	require.Equal(t, int64(len(val)), rec.Size)
	r, err := db.Open(c, "big")
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.True(t, bytes.Equal(val, got))
	_, data, err := get(t, db, "big")
	require.NoError(t, err)
	require.True(t, bytes.Equal(val, data))
}

func testCompareAndSwap(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c := ctx(t)
	create := &kv.PutOptions{Match: true, Rev: 0}
	r1, err := db.Put(c, "k", bytes.NewReader([]byte("one")), create)
	require.NoError(t, err)
	_, err = db.Put(c, "k", bytes.NewReader([]byte("two")), create)
	require.ErrorIs(t, err, kv.ErrRevMismatch)
	r2, err := db.Put(c, "k", bytes.NewReader(value(9000, 3)), &kv.PutOptions{Match: true, Rev: r1.Rev})
	require.NoError(t, err)
	_, err = db.Put(c, "k", bytes.NewReader([]byte("three")), &kv.PutOptions{Match: true, Rev: r1.Rev})
	require.ErrorIs(t, err, kv.ErrRevMismatch)
	require.Equal(t, 3, countChunks(t, e), "a failed swap of several chunks leaves none behind")
	require.ErrorIs(t, db.Delete(c, "k", &kv.DeleteOptions{Match: true, Rev: r1.Rev}), kv.ErrRevMismatch)
	require.NoError(t, db.Delete(c, "k", &kv.DeleteOptions{Match: true, Rev: r2.Rev}))
	require.ErrorIs(t, db.Delete(c, "k", nil), kv.ErrNotFound)
	require.Zero(t, countChunks(t, e))
}

func testConcurrentCreate(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c := ctx(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := db.Put(c, "once", bytes.NewReader(value(5000, uint64(i))), &kv.PutOptions{Match: true})
			if err == nil {
				wins.Add(1)
			} else {
				assert.ErrorIs(t, err, kv.ErrRevMismatch)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, wins.Load())
	_, _, err := get(t, db, "once")
	require.NoError(t, err)
	require.Equal(t, 2, countChunks(t, e), "the losers' chunks are gone")
}

func testListDelete(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c := ctx(t)
	for _, k := range []string{"u/2", "u/1", "u/3", "x"} {
		_, err := db.Put(c, k, bytes.NewReader([]byte(k)), &kv.PutOptions{Meta: []byte("meta " + k)})
		require.NoError(t, err)
	}
	recs, err := db.List(c, "u/")
	require.NoError(t, err)
	require.Len(t, recs, 3)
	for i, r := range recs {
		k := fmt.Sprintf("u/%d", i+1)
		assert.Equal(t, k, r.Key)
		assert.Equal(t, "meta "+k, string(r.Meta))
		assert.EqualValues(t, len(k), r.Size)
	}
	require.NoError(t, db.Delete(c, "u/2", nil))
	recs, err = db.List(c, "u/")
	require.NoError(t, err)
	require.Len(t, recs, 2)
	recs, err = db.List(c, "nothing/")
	require.NoError(t, err)
	require.Empty(t, recs)
}

func testOpenSeek(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c := ctx(t)
	val := value(20000, 4)
	_, err := db.Put(c, "s", bytes.NewReader(val), nil)
	require.NoError(t, err)
	r, err := db.Open(c, "s")
	require.NoError(t, err)
	require.EqualValues(t, len(val), r.Size())
	for _, off := range []int64{0, 4095, 4096, 12000, 19999} {
		_, err := r.Seek(off, io.SeekStart)
		require.NoError(t, err)
		buf := make([]byte, 5000)
		n, err := io.ReadFull(r, buf)
		if off+5000 > int64(len(val)) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		} else {
			require.NoError(t, err)
		}
		require.Equal(t, val[off:off+int64(n)], buf[:n], off)
	}
	end, err := r.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	require.EqualValues(t, len(val), end)
	_, err = r.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

// failingReader gives n bytes and then fails, as a client that disconnects mid-upload.
type failingReader struct{ n int }

var errClient = errors.New("client went away")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errClient
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

func testInterruptedPut(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c := ctx(t)
	_, err := db.Put(c, "half", &failingReader{n: 10000}, nil)
	require.ErrorIs(t, err, errClient)
	recs, err := db.List(c, "")
	require.NoError(t, err)
	require.Empty(t, recs, "nothing half-written is listed")
	require.Zero(t, countChunks(t, e), "the chunks of the failed write are removed")

	// A crash leaves the chunks and the pending marker (as written by Put before its last
	// transaction); Sweep removes them.
	gen := fmt.Sprintf("%016x", time.Now().Add(-time.Hour).UnixNano()) + "0123456789abcdef"
	_, err = e.Txn(c, nil, []kv.Op{
		{Key: "c/" + gen + "/00000000", Value: make([]byte, 4096)},
		{Key: "p/" + gen, Value: []byte("crashed")},
	})
	require.NoError(t, err)
	n, err := db.Sweep(c, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, countChunks(t, e))
}

func testDamage(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c := ctx(t)
	val := value(10000, 5)
	_, err := db.Put(c, "d", bytes.NewReader(val), nil)
	require.NoError(t, err)
	_, err = db.Put(c, "one", bytes.NewReader([]byte("a single chunk")), nil)
	require.NoError(t, err)

	var chunks []string
	require.NoError(t, e.Range(c, "c/", func(k string, _ []byte, _ int64) error { chunks = append(chunks, k); return nil }))
	require.Len(t, chunks, 4)
	flip := func(key string) {
		var b []byte
		require.NoError(t, e.View(c, key, func(v []byte, _ int64) error { b = bytes.Clone(v); return nil }))
		b[len(b)/2] ^= 0x40
		_, err := e.Txn(c, nil, []kv.Op{{Key: key, Value: b}})
		require.NoError(t, err)
	}
	// Damage every chunk in turn: no read hands out anything of the damaged chunk.
	for _, ck := range chunks {
		flip(ck)
		for _, key := range []string{"d", "one"} {
			_, _, gerr := get(t, db, key)
			r, err := db.Open(c, key)
			require.NoError(t, err)
			got, rerr := io.ReadAll(r)
			if gerr == nil {
				require.NoError(t, rerr)
				continue
			}
			require.ErrorIs(t, gerr, kv.ErrCorrupt)
			require.ErrorIs(t, rerr, kv.ErrCorrupt)
			if key == "d" {
				require.Equal(t, val[:len(got)], got, "only checked bytes before the damage")
			}
		}
		flip(ck) // repair
	}
	_, _, err = get(t, db, "d")
	require.NoError(t, err)

	// A damaged header.
	flip("m/d")
	_, _, err = get(t, db, "d")
	require.ErrorIs(t, err, kv.ErrCorrupt)
	_, err = db.List(c, "")
	require.ErrorIs(t, err, kv.ErrCorrupt)
	require.NoError(t, db.Delete(c, "d", nil), "a damaged value can still be deleted")

	// A chunk gone missing. (The chunks of the value deleted with a damaged header are
	// left behind: nothing references them.)
	before := map[string]bool{}
	require.NoError(t, e.Range(c, "c/", func(k string, _ []byte, _ int64) error { before[k] = true; return nil }))
	_, err = db.Put(c, "m", bytes.NewReader(val), nil)
	require.NoError(t, err)
	var added []string
	require.NoError(t, e.Range(c, "c/", func(k string, _ []byte, _ int64) error {
		if !before[k] {
			added = append(added, k)
		}
		return nil
	}))
	require.Len(t, added, 3)
	_, err = e.Txn(c, nil, []kv.Op{{Key: added[1], Delete: true}})
	require.NoError(t, err)
	_, _, err = get(t, db, "m")
	require.ErrorIs(t, err, kv.ErrCorrupt)
	r, err := db.Open(c, "m")
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.ErrorIs(t, err, kv.ErrCorrupt)
	require.Equal(t, val[:4096], got)
}

func testWatch(t *testing.T, e kv.Engine) {
	db := kv.NewDB(e, smallChunks)
	c, cancel := context.WithCancel(ctx(t))
	ch, err := db.Watch(c, "w/")
	require.NoError(t, err)
	r1, err := db.Put(c, "w/a", bytes.NewReader(value(9000, 6)), nil)
	require.NoError(t, err)
	_, err = db.Put(c, "other", bytes.NewReader([]byte("x")), nil)
	require.NoError(t, err)
	require.NoError(t, db.Delete(c, "w/a", nil))
	var evs []kv.Event
	for len(evs) < 2 {
		select {
		case ev := <-ch:
			evs = append(evs, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("events so far: %+v", evs)
		}
	}
	require.Equal(t, kv.Event{Key: "w/a", Rev: r1.Rev}, evs[0])
	require.Equal(t, "w/a", evs[1].Key)
	require.True(t, evs[1].Deleted)
	cancel()
	for range ch {
	}
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }
