package kv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"time"
)

// Sentinel errors of the package. Test for them with errors.Is.
var (
	// ErrInvalidKey reports a key that is not in normal form (see ValidKey) or that CleanKey
	// cannot bring into it, for example because it contains a ".." segment or a NUL byte.
	ErrInvalidKey = errors.New("kv: invalid key")
	// ErrNotFound reports a well-formed key that the store does not hold (or, for List, a
	// prefix that is not a directory).
	ErrNotFound = errors.New("kv: not found")
	// ErrConflict reports a write that would make one key both an entry and a directory, such
	// as setting "a/b" while "a" is an entry, or "a" while "a/b" exists.
	ErrConflict = errors.New("kv: key conflicts with an existing entry or directory")
	// ErrCorruptImage reports a content image that is truncated, corrupt, of an unknown
	// version or otherwise not as WriteImage writes it. Nothing of such an image is served.
	ErrCorruptImage = errors.New("kv: corrupt content image")
	// ErrClosed is returned by Watcher.Next once the watcher is closed.
	ErrClosed = errors.New("kv: watcher closed")
)

// Content encodings of precompressed variants, as written in HTTP's Content-Encoding.
const (
	// EncodingGzip is gzip (RFC 1952), which every client accepts.
	EncodingGzip = "gzip"
	// EncodingBrotli is brotli (RFC 7932), smaller than gzip; browsers accept it over HTTPS.
	EncodingBrotli = "br"
	// EncodingZstd is Zstandard (RFC 8878), with a window of at most 8 MiB as browsers need.
	EncodingZstd = "zstd"
)

// Digest is the SHA-256 digest of an entry's content (or of a variant's encoded bytes).
type Digest [sha256.Size]byte

// String returns the digest in lower-case hexadecimal.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Info describes an entry. All of it is computed once, when the entry is stored or loaded.
type Info struct {
	// Key is the entry's key, in normal form.
	Key string
	// Size is the length of the content in bytes.
	Size int64
	// ModTime is the modification time: the file's when loaded from a file system, the time
	// of the write (unless given) in a Mem. It may be the zero time when unknown.
	ModTime time.Time
	// Digest is the SHA-256 digest of the content.
	Digest Digest
	// ContentType is the media type, from the embedded MIME table (see ContentType) unless
	// given explicitly, with "; charset=utf-8" on text types.
	ContentType string
}

// Variant is a precompressed form of an entry's content. A variant is kept only when it is
// smaller than the original.
type Variant struct {
	// Encoding is the content coding: EncodingGzip, EncodingBrotli or EncodingZstd.
	Encoding string
	// Size is len(Data).
	Size int64
	// Digest is the SHA-256 digest of Data (the encoded bytes, not the original).
	Digest Digest
	// Data is the encoded content: a read-only view shared by every reader.
	Data []byte
}

// Entry is a stored entry: its Info, its content and its precompressed variants. An Entry
// handed out by a store is immutable and shared: callers must not modify it or anything it
// refers to.
type Entry struct {
	Info
	// Data is the content: a read-only view shared by every reader.
	Data []byte
	// Variants are the precompressed forms, in preference order (br, zstd, gzip), each
	// smaller than Data. Read-only.
	Variants []Variant
}

// Variant returns the entry's variant with the given encoding, if there is one.
func (e *Entry) Variant(encoding string) (Variant, bool) {
	for _, v := range e.Variants {
		if v.Encoding == encoding {
			return v, true
		}
	}
	return Variant{}, false
}

// DirEntry is one child of a directory as returned by List.
type DirEntry struct {
	// Name is the child's last key segment (no slash).
	Name string
	// Dir is true for a directory (a prefix of other keys), false for an entry.
	Dir bool
}

// Store is the read-only interface of every store. Its methods are safe for concurrent use.
//
// Keys must be in normal form (see ValidKey); other keys give ErrInvalidKey. Lookups (Get, Info,
// Lookup, List) return the sentinels ErrInvalidKey and ErrNotFound unwrapped and allocate nothing, found or not.
//
// A store whose content can change (Mem, Swap) answers each call from its current content;
// to read several keys consistently, take a Snapshot and read from it.
type Store interface {
	// Get returns the content of key without copying: a read-only view that the caller must
	// not modify.
	Get(key string) ([]byte, error)
	// Info returns the Info of key: size, modification time, digest and content type. (It
	// is not called Stat because Stat is fs.StatFS's method, which every Store also has.)
	Info(key string) (Info, error)
	// Lookup returns the entry of key, with its content and variants. The entry is shared
	// and read-only.
	Lookup(key string) (*Entry, error)
	// Exists reports whether key names an entry (not a directory).
	Exists(key string) bool
	// List returns the children of the directory prefix ("" for the root), sorted by name.
	// The slice is shared and read-only. A prefix that is an entry or absent gives
	// ErrNotFound.
	List(prefix string) ([]DirEntry, error)
	// Snapshot returns an immutable view of the current content. It does not copy the
	// content and, while the content does not change, does not allocate.
	Snapshot() *Snapshot
	// Generation returns the generation of the current content; see Snapshot.Generation.
	Generation() uint64

	// A Store is a file system of its entries; directories are the prefixes of keys.
	// Open and ReadDir take fs.ValidPath names ("." for the root). ReadFile returns a copy,
	// as fs.ReadFileFS requires; use Get to avoid it.
	fs.StatFS
	fs.ReadDirFS
	fs.ReadFileFS
}

// Meta is optional metadata for a write. Zero fields are filled in.
type Meta struct {
	// ModTime is the modification time; zero means the time of the write.
	ModTime time.Time
	// ContentType is the media type; "" means ContentType(key).
	ContentType string
}

// ReadWriter is a Store that can be changed. Every change creates new content with a new
// generation; snapshots taken before it are unaffected.
type ReadWriter interface {
	Store
	// Set stores data under key, replacing any entry there. It takes ownership of data: the
	// caller must not modify it afterwards.
	Set(key string, data []byte) error
	// SetMeta is Set with explicit metadata.
	SetMeta(key string, data []byte, meta Meta) error
	// Remove deletes the entry of key; ErrNotFound if there is none.
	Remove(key string) error
	// Rename moves the entry of from to to, replacing any entry at to, keeping its
	// content, modification time and variants (and its content type unless the extension
	// changes). ErrNotFound if from is absent.
	Rename(from, to string) error
	// Apply performs every operation of b, or none: all are checked first, and the result
	// becomes visible to readers at once.
	Apply(b *Batch) error
	// Watch returns a Watcher told of the changes to keys under prefix ("" for all).
	Watch(prefix string) *Watcher
}

// Change is what a Watcher reports: the content has changed since the last Next.
type Change struct {
	// Generation is the generation of the content after the changes.
	Generation uint64
	// Keys are the keys set, removed or renamed (both names), sorted, without duplicates.
	// Nil when All is set.
	Keys []string
	// All is set when more keys changed than the watcher holds, or when the whole content
	// was replaced (Swap.Replace): the watcher should reread everything it cares about.
	All bool
}
