package kv

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// A content image is a whole store in one file, written by WriteImage (or the kvimage
// command) and loaded by LoadImage without copying: entries are sub-slices of the image.
//
// Layout (integers little-endian):
//
//	header   magic "unikitkv" (8 bytes), version u32 (1), flags u32 (0), count u32,
//	         reserved u32 (0), index length u64, data length u64          (40 bytes)
//	index    count entries, sorted by key, each:
//	           key length u16, key; content type length u8, content type;
//	           modification time: seconds since 1970 i64, nanoseconds u32;
//	           content offset u64 and length u64 (within data); SHA-256 of the content;
//	           variant count u8, each: encoding u8 (1 gzip, 2 br, 3 zstd), offset u64,
//	           length u64, SHA-256 of the variant
//	data     the content and variants; identical byte strings are stored once
//	trailer  SHA-256 of everything before it (32 bytes)
//
// LoadImage checks all of it before serving any of it: magic, version, lengths, the
// whole-image checksum, every key in normal form and in strict order, content types that are
// printable ASCII, every range inside the data, every variant smaller than its content and in
// preference order, and the SHA-256 of every entry and variant.
const (
	imageMagic      = "unikitkv"
	imageVersion    = 1
	imageHeaderLen  = 40
	imageTrailerLen = sha256.Size
	// imageMinEntry is the smallest index entry: a one-byte key, no content type, no
	// variant. It bounds the entry count an index of a given length can claim.
	imageMinEntry   = 2 + 1 + 1 + 12 + 16 + sha256.Size + 1
	imageVariantLen = 1 + 16 + sha256.Size
	maxVariants     = 3
)

// encodingID and encodingOfID convert encodings to and from their image codes.
func encodingID(enc string) byte {
	switch enc {
	case EncodingGzip:
		return 1
	case EncodingBrotli:
		return 2
	case EncodingZstd:
		return 3
	}
	return 0
}

func encodingOfID(id byte) string {
	switch id {
	case 1:
		return EncodingGzip
	case 2:
		return EncodingBrotli
	case 3:
		return EncodingZstd
	}
	return ""
}

// corrupt returns an ErrCorruptImage error with details.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorruptImage}, args...)...)
}

// OpenImage reads the content image in file name and loads it with LoadImage.
func OpenImage(name string) (*Snapshot, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("kv: %w", err)
	}
	s, err := LoadImage(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, name)
	}
	return s, nil
}

// LoadImage loads a content image (see WriteImage) into a new snapshot. It takes ownership
// of img, which the caller must not modify afterwards (a go:embed []byte is fine): the
// entries' Data and variants are sub-slices of img, not copies.
//
// The whole image is verified first, including the SHA-256 of every entry; an image that is
// truncated, corrupt or of another version is refused with an error wrapping
// ErrCorruptImage, and nothing of it is returned.
func LoadImage(img []byte) (*Snapshot, error) {
	if len(img) < imageHeaderLen+imageTrailerLen {
		return nil, corrupt("truncated: %d bytes, shorter than a header and trailer", len(img))
	}
	if string(img[:8]) != imageMagic {
		return nil, corrupt("not a content image (bad magic)")
	}
	le := binary.LittleEndian
	if v := le.Uint32(img[8:]); v != imageVersion {
		return nil, corrupt("version %d, this program reads version %d", v, imageVersion)
	}
	if f, r := le.Uint32(img[12:]), le.Uint32(img[20:]); f != 0 || r != 0 {
		return nil, corrupt("unknown flags %#x or reserved field %#x", f, r)
	}
	count := uint64(le.Uint32(img[16:]))
	indexLen, dataLen := le.Uint64(img[24:]), le.Uint64(img[32:])
	body := uint64(len(img) - imageHeaderLen - imageTrailerLen)
	if indexLen > body || dataLen > body-indexLen {
		return nil, corrupt("truncated: %d bytes, the header announces %d bytes of index and %d of data",
			len(img), indexLen, dataLen)
	}
	if indexLen+dataLen != body {
		return nil, corrupt("%d bytes of trailing garbage", body-indexLen-dataLen)
	}
	if count > indexLen/imageMinEntry {
		return nil, corrupt("%d entries cannot fit in an index of %d bytes", count, indexLen)
	}
	sumAt := len(img) - imageTrailerLen
	if sum := sha256.Sum256(img[:sumAt]); !bytes.Equal(sum[:], img[sumAt:]) {
		return nil, corrupt("image checksum mismatch")
	}
	index := img[imageHeaderLen : imageHeaderLen+indexLen]
	data := img[imageHeaderLen+indexLen : imageHeaderLen+indexLen+dataLen]

	entries := make(map[string]*Entry, count)
	r := imageReader{b: index}
	prev := ""
	for i := range count {
		key := string(r.bytes(int(r.u16())))
		ctype := string(r.bytes(int(r.u8())))
		sec, nsec := int64(r.u64()), r.u32()
		off, size := r.u64(), r.u64()
		var digest Digest
		copy(digest[:], r.bytes(sha256.Size))
		nv := int(r.u8())
		if r.err {
			return nil, corrupt("index truncated in entry %d", i)
		}
		if !ValidKey(key) {
			return nil, corrupt("entry %d: invalid key %q", i, key)
		}
		if i > 0 && key <= prev {
			return nil, corrupt("entry %d: key %q out of order", i, key)
		}
		prev = key
		if !printableASCII(ctype) {
			return nil, corrupt("%s: invalid content type %q", key, ctype)
		}
		if nsec >= 1e9 {
			return nil, corrupt("%s: invalid modification time", key)
		}
		content, ok := dataRange(data, off, size)
		if !ok {
			return nil, corrupt("%s: content range [%d, +%d) outside the data (%d bytes)", key, off, size, len(data))
		}
		if sha256.Sum256(content) != digest {
			return nil, corrupt("%s: content checksum mismatch", key)
		}
		e := &Entry{
			Info: Info{Key: key, Size: int64(size), ModTime: time.Unix(sec, int64(nsec)).UTC(),
				Digest: digest, ContentType: ctype},
			Data: content,
		}
		if nv > maxVariants {
			return nil, corrupt("%s: %d variants", key, nv)
		}
		if nv > 0 {
			e.Variants = make([]Variant, 0, nv)
		}
		for range nv {
			enc := encodingOfID(r.u8())
			voff, vsize := r.u64(), r.u64()
			var vd Digest
			copy(vd[:], r.bytes(sha256.Size))
			if r.err {
				return nil, corrupt("index truncated in entry %d", i)
			}
			if enc == "" {
				return nil, corrupt("%s: unknown variant encoding", key)
			}
			if n := len(e.Variants); n > 0 && encodingRank(e.Variants[n-1].Encoding) >= encodingRank(enc) {
				return nil, corrupt("%s: variants out of order or repeated", key)
			}
			z, ok := dataRange(data, voff, vsize)
			if !ok || vsize >= size {
				return nil, corrupt("%s: %s variant range invalid or not smaller than the content", key, enc)
			}
			if sha256.Sum256(z) != vd {
				return nil, corrupt("%s: %s variant checksum mismatch", key, enc)
			}
			e.Variants = append(e.Variants, Variant{Encoding: enc, Size: int64(vsize), Digest: vd, Data: z})
		}
		entries[key] = e
	}
	if len(r.b) != 0 {
		return nil, corrupt("%d bytes after the last index entry", len(r.b))
	}
	s, err := newSnapshot(entries, nextGeneration())
	if err != nil {
		return nil, corrupt("%v", err)
	}
	return s, nil
}

// dataRange returns data[off:off+size] with its capacity clipped, if it lies inside data.
func dataRange(data []byte, off, size uint64) ([]byte, bool) {
	n := uint64(len(data))
	if off > n || size > n-off {
		return nil, false
	}
	return data[off : off+size : off+size], true
}

// printableASCII reports whether s has only bytes 0x20 to 0x7e: a content type is copied
// into HTTP headers, where a CR or LF would be an injection.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// imageReader reads an index; once it runs out it sets err and returns zeros.
type imageReader struct {
	b   []byte
	err bool
}

func (r *imageReader) bytes(n int) []byte {
	if r.err || n > len(r.b) {
		r.err = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *imageReader) u8() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *imageReader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *imageReader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *imageReader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// WriteImage writes the content of s (a snapshot of it, with every variant) to w as a
// content image that LoadImage reads. Identical byte strings (a sidecar and the variant
// made of it, duplicate files) are stored once.
func WriteImage(w io.Writer, s Store) error {
	snap := s.Snapshot()
	if uint64(snap.Len()) > math.MaxUint32 {
		return fmt.Errorf("kv: %d entries are too many for an image", snap.Len())
	}
	// Lay out the data: every distinct byte string once, in key order.
	var chunks [][]byte
	offsets := map[Digest]uint64{}
	var dataLen uint64
	place := func(d Digest, b []byte) uint64 {
		if off, ok := offsets[d]; ok {
			return off
		}
		off := dataLen
		offsets[d] = off
		chunks = append(chunks, b)
		dataLen += uint64(len(b))
		return off
	}
	var index []byte
	le := binary.LittleEndian
	for e := range snap.All() {
		if len(e.ContentType) > math.MaxUint8 || !printableASCII(e.ContentType) {
			return fmt.Errorf("kv: %s: content type %q cannot be stored", e.Key, e.ContentType)
		}
		index = le.AppendUint16(index, uint16(len(e.Key)))
		index = append(index, e.Key...)
		index = append(index, byte(len(e.ContentType)))
		index = append(index, e.ContentType...)
		index = le.AppendUint64(index, uint64(e.ModTime.Unix()))
		index = le.AppendUint32(index, uint32(e.ModTime.Nanosecond()))
		index = le.AppendUint64(index, place(e.Digest, e.Data))
		index = le.AppendUint64(index, uint64(len(e.Data)))
		index = append(index, e.Digest[:]...)
		index = append(index, byte(len(e.Variants)))
		for _, v := range e.Variants {
			index = append(index, encodingID(v.Encoding))
			index = le.AppendUint64(index, place(v.Digest, v.Data))
			index = le.AppendUint64(index, uint64(len(v.Data)))
			index = append(index, v.Digest[:]...)
		}
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<16)
	header := make([]byte, 0, imageHeaderLen)
	header = append(header, imageMagic...)
	header = le.AppendUint32(header, imageVersion)
	header = le.AppendUint32(header, 0)
	header = le.AppendUint32(header, uint32(snap.Len()))
	header = le.AppendUint32(header, 0)
	header = le.AppendUint64(header, uint64(len(index)))
	header = le.AppendUint64(header, dataLen)
	bw.Write(header)
	bw.Write(index)
	for _, c := range chunks {
		bw.Write(c)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("kv: writing image: %w", err)
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("kv: writing image: %w", err)
	}
	return nil
}
