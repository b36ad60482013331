package boltkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/kv"
	"github.com/unikit/unikit/kv/boltkv"
)

// damageFixture writes a store with values of one and of several chunks, closes it, and
// returns its path and the values.
func damageFixture(t *testing.T) (string, map[string][]byte) {
	path := filepath.Join(t.TempDir(), "kv.db")
	e, err := boltkv.Open(path, nil)
	require.NoError(t, err)
	db := kv.NewDB(e, &kv.DBConfig{ChunkSize: 16 << 10})
	vals := map[string][]byte{}
	for i := range 12 {
		v := bytes.Repeat([]byte(fmt.Sprintf("value %d ", i)), 1000*(i+1)) // 8 KiB .. 100 KiB
		key := fmt.Sprintf("k/%02d", i)
		_, err := db.Put(context.Background(), key, bytes.NewReader(v), nil)
		require.NoError(t, err)
		vals[key] = v
	}
	require.NoError(t, db.Close())
	return path, vals
}

// readAll opens the store and reads every value, checking that each read either gives the
// right bytes or fails with kv.ErrCorrupt: it never gives wrong bytes, and never crashes.
// It returns how many reads failed (-1 if Open refused the file).
func readAll(t *testing.T, path string, vals map[string][]byte) int {
	e, err := boltkv.Open(path, nil)
	if err != nil {
		require.ErrorIs(t, err, kv.ErrCorrupt)
		return -1
	}
	db := kv.NewDB(e, nil)
	defer func() { require.NoError(t, db.Close()) }()
	failed := 0
	ctx := context.Background()
	if _, err := db.List(ctx, ""); err != nil {
		require.ErrorIs(t, err, kv.ErrCorrupt)
		failed++
	}
	for key, want := range vals {
		err := db.Get(ctx, key, func(_ kv.Record, v []byte) error {
			require.True(t, bytes.Equal(want, v), "%s: wrong bytes served", key)
			return nil
		})
		r, oerr := db.Open(ctx, key)
		var got []byte
		if oerr == nil {
			got, oerr = io.ReadAll(r)
			require.Equal(t, want[:len(got)], got, "%s: wrong bytes streamed", key)
		}
		if err != nil || oerr != nil {
			for _, err := range []error{err, oerr} {
				if err != nil && !errorsIsAny(err, kv.ErrCorrupt, kv.ErrNotFound) {
					t.Fatalf("%s: %v", key, err)
				}
			}
			failed++
		}
	}
	return failed
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func TestTruncatedFileRefusedAtOpen(t *testing.T) {
	path, _ := damageFixture(t)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	// Shorter and shorter, down to less than bbolt's two meta pages. (bbolt grows its file
	// ahead of use: cutting only the unused tail is no damage.)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, size := range []int64{fi.Size() / 2, 8192, 100} {
		file := fmt.Sprintf("%s.%d", path, size) // a file of its own: see TestEveryPageOverwritten
		require.NoError(t, os.WriteFile(file, orig[:size], 0o600))
		_, err = boltkv.Open(file, nil)
		require.ErrorIs(t, err, kv.ErrCorrupt, "truncated to %d", size)
		require.ErrorContains(t, err, "truncated")
	}
}

func TestOverwrittenValueRefusedPerRead(t *testing.T) {
	path, vals := damageFixture(t)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	i := bytes.Index(b, []byte("value 7 value 7"))
	require.Positive(t, i)
	copy(b[i:], "VALUE")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	e, err := boltkv.Open(path, nil)
	require.NoError(t, err, "the page structure is intact: the damage is found by the read")
	db := kv.NewDB(e, nil)
	defer db.Close()
	err = db.Get(context.Background(), "k/07", func(kv.Record, []byte) error {
		t.Fatal("damaged value served")
		return nil
	})
	require.ErrorIs(t, err, kv.ErrCorrupt)
	require.ErrorContains(t, err, "SHA-256")
	delete(vals, "k/07")
	require.NoError(t, db.Close())
	require.Zero(t, readAll(t, path, vals), "the other values are intact")
}

// TestEveryPageOverwritten overwrites each page of the file in turn with garbage: the store
// is refused at Open or serves only good bytes and ErrCorrupt, never damaged data, and never
// crashes.
func TestEveryPageOverwritten(t *testing.T) {
	path, vals := damageFixture(t)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	garbage := bytes.Repeat([]byte{0xa5, 0x13, 0xff, 0x00, 0x7e}, 4096/5+1)[:4096]
	refused, damaged := 0, 0
	for off := 0; off < len(orig); off += 4096 {
		b := bytes.Clone(orig)
		copy(b[off:min(off+4096, len(b))], garbage)
		// A file of its own each time: one that bbolt panicked on stays locked (see Open).
		file := fmt.Sprintf("%s.%d", path, off/4096)
		require.NoError(t, os.WriteFile(file, b, 0o600))
		switch n := readAll(t, file, vals); {
		case n < 0:
			refused++
		case n > 0:
			damaged++
		}
	}
	t.Logf("%d pages: %d refused at open, %d found per read", len(orig)/4096, refused, damaged)
	require.Positive(t, refused+damaged)
}
