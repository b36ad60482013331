package kv

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// recordMagic starts every record header; its last byte is the format's version.
const recordMagic = "KVR\x01"

// Record describes a value stored in a [DB].
type Record struct {
	// Key is the value's key.
	Key string
	// Rev is the revision of the write that stored the value (see [Engine]): it changes with
	// every write of the key, and a later write of any key has a higher one.
	Rev int64
	// Size is the value's length in bytes.
	Size int64
	// Digest is the SHA-256 digest of the value.
	Digest Digest
	// Meta is the application's metadata stored with the value (PutOptions.Meta).
	Meta []byte
}

// header is a record's header as stored under the meta key: everything but the value.
type header struct {
	size      int64
	digest    Digest
	chunkSize int
	gen       string
	meta      []byte
	chunks    []Digest // the SHA-256 of each chunk, in order
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encode returns the header's stored form: magic, size, digest, chunk size, generation,
// metadata, chunk digests, and a CRC-32C of all of it.
func (h *header) encode() []byte {
	b := make([]byte, 0, 4+8+32+4+1+len(h.gen)+4+len(h.meta)+4+32*len(h.chunks)+4)
	b = append(b, recordMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.size))
	b = append(b, h.digest[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(h.chunkSize))
	b = append(b, byte(len(h.gen)))
	b = append(b, h.gen...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.meta)))
	b = append(b, h.meta...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.chunks)))
	for _, d := range h.chunks {
		b = append(b, d[:]...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadHeader = errors.New("damaged record header")

// decodeHeader parses a stored header, copying what it keeps (b may be an engine's view).
func decodeHeader(b []byte) (header, error) {
	var h header
	if len(b) < 4+8+32+4+1+4+4+4 || string(b[:4]) != recordMagic {
		return h, errBadHeader
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return h, errBadHeader
	}
	p := body[4:]
	h.size = int64(binary.BigEndian.Uint64(p))
	copy(h.digest[:], p[8:40])
	h.chunkSize = int(binary.BigEndian.Uint32(p[40:]))
	p = p[44:]
	n := int(p[0])
	if len(p) < 1+n+4 {
		return h, errBadHeader
	}
	h.gen = string(p[1 : 1+n])
	p = p[1+n:]
	m := int(binary.BigEndian.Uint32(p))
	if len(p) < 4+m+4 {
		return h, errBadHeader
	}
	h.meta = append([]byte(nil), p[4:4+m]...)
	p = p[4+m:]
	c := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if len(p) != c*sha256.Size || h.size < 0 || h.chunkSize <= 0 ||
		int64(c) != (h.size+int64(h.chunkSize)-1)/int64(h.chunkSize) {
		return h, errBadHeader
	}
	h.chunks = make([]Digest, c)
	for i := range h.chunks {
		copy(h.chunks[i][:], p[i*sha256.Size:])
	}
	return h, nil
}

// chunkLen returns the length of chunk i.
func (h *header) chunkLen(i int) int {
	if i < len(h.chunks)-1 {
		return h.chunkSize
	}
	return int(h.size - int64(i)*int64(h.chunkSize))
}
