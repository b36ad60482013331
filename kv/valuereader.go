package kv

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ValueReader reads a value of a [DB] chunk by chunk: an io.ReadSeeker (for
// http.ServeContent and Range requests) that checks each chunk against its SHA-256 before
// handing out any of its bytes, and, when the value is read from the start to the end, the
// whole value against its digest. It reads the value as of the Record it was opened at: if the
// key is rewritten or deleted meanwhile, reading fails with ErrNotFound. A ValueReader is not
// safe for concurrent use.
type ValueReader struct {
	d   *DB
	ctx context.Context
	h   header
	rec Record

	off   int64  // the read position
	chunk int    // the chunk in buf, -1 for none
	buf   []byte // chunk's bytes, checked
	sum   hash.Hash
	seq   int64 // how far the value was read sequentially from 0 into sum; -1 once broken
}

// Record returns the record of the value being read.
func (v *ValueReader) Record() Record { return v.rec }

// Size returns the value's length.
func (v *ValueReader) Size() int64 { return v.h.size }

// Read implements io.Reader.
func (v *ValueReader) Read(p []byte) (int, error) {
	if v.off >= v.h.size {
		return 0, io.EOF
	}
	i := int(v.off / int64(v.h.chunkSize))
	if i != v.chunk {
		if err := v.load(i); err != nil {
			return 0, err
		}
	}
	start := int(v.off - int64(i)*int64(v.h.chunkSize))
	n := copy(p, v.buf[start:])
	if v.seq == v.off {
		v.sum.Write(v.buf[start : start+n])
		v.seq += int64(n)
		if v.seq == v.h.size && Digest(v.sum.Sum(nil)) != v.h.digest {
			// every chunk matched its digest but the whole does not: the header's chunk
			// digests were damaged consistently with the chunks, or the header is of
			// another value; refuse the end of it.
			return 0, fmt.Errorf("%w: %s: the value does not match its SHA-256", ErrCorrupt, v.rec.Key)
		}
	}
	v.off += int64(n)
	return n, nil
}

// load reads chunk i into buf and checks it.
func (v *ValueReader) load(i int) error {
	if v.buf == nil {
		v.buf = make([]byte, 0, v.h.chunkSize)
	}
	want := v.h.chunkLen(i)
	err := v.d.e.View(v.ctx, chunkKey(v.h.gen, i), func(val []byte, _ int64) error {
		if len(val) != want || sha256.Sum256(val) != v.h.chunks[i] {
			return fmt.Errorf("%w: %s: chunk %d does not match its SHA-256", ErrCorrupt, v.rec.Key, i)
		}
		v.buf = append(v.buf[:0], val...)
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		// Rewritten or deleted since the header was read, or damage: tell them apart.
		_, now, herr := v.d.header(v.ctx, v.rec.Key)
		if herr == nil && now != v.rec.Rev || errors.Is(herr, ErrNotFound) {
			return fmt.Errorf("%w: %s was rewritten or deleted while being read", ErrNotFound, v.rec.Key)
		}
		return fmt.Errorf("%w: %s: %v %d", ErrCorrupt, v.rec.Key, errChunkMissing, i)
	}
	if err != nil {
		v.chunk = -1
		return err
	}
	v.chunk = i
	return nil
}

// Seek implements io.Seeker.
func (v *ValueReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += v.off
	case io.SeekEnd:
		offset += v.h.size
	default:
		return 0, errors.New("kv: Seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("kv: Seek: negative position")
	}
	v.off = offset
	return offset, nil
}
