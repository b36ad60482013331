// Package kv is unikit's content store: the files of a static site (or any other read-mostly
// content) held in memory, addressed by slash-separated keys, with what an HTTP server needs
// prepared once, when the content is built or loaded, instead of on every request: the
// SHA-256 digest of every entry, its content type from an embedded MIME table, and
// precompressed variants (gzip, brotli, zstd) kept beside the original.
//
// # Interfaces
//
// [Store] is the read-only interface: [Store.Get] returns the stored bytes without copying,
// [Store.Info] its [Info] (size, modification time, digest, content type), [Store.Lookup] the
// whole [Entry] including its [Variant]s, [Store.List] the children of a prefix and
// [Store.Exists] whether a key is present. Every Store is also an [fs.FS] ([fs.StatFS],
// [fs.ReadDirFS], [fs.ReadFileFS]), so html/template.ParseFS, http.FS and fstest.TestFS work on
// it. [ReadWriter] adds Set, Remove, Rename, atomic [Batch]es and [Watcher]s.
//
// # Implementations
//
//   - [Snapshot]: an immutable, consistent view. Every store hands one out through
//     [Store.Snapshot]; a server takes one per request so that the content it sees cannot
//     change under it. Each snapshot has a [Snapshot.Generation] number, unique in the process
//     and increasing, to key caches of prepared responses.
//   - [Mem]: the in-memory read-write store, the embedded default.
//   - [LoadFS] and [LoadDir]: a snapshot of any fs.FS (go:embed, os.DirFS) or directory.
//     Symbolic links are skipped and a directory is read through [os.Root], so no content from
//     outside the directory gets in.
//   - [LoadImage] and [OpenImage]: a snapshot of a single-file content image written by
//     [WriteImage] or by the kvimage command (go run github.com/unikit/unikit/kv/cmd/kvimage),
//     verified as a whole before anything is served; entries are sub-slices of the image.
//   - [Swap]: holds the current snapshot behind an atomic pointer, so a running server
//     switches to new content without failing a request.
//
// # The durable store
//
// [DB] is the read-write store for content written at run time that must survive a crash
// (the queue appliance's uploads): values of any size under string keys, streamed in and out
// in chunks, each value and chunk checked against its SHA-256 on every read ([ErrCorrupt],
// never damaged bytes), compare-and-swap by revision, listing by prefix and watches. It runs
// on an [Engine]: kv/boltkv (one fsync'd bbolt file) or kv/etcdkv (an etcd cluster shared by
// several appliances), which keep their dependencies out of this package; kv/kvtest is the
// conformance suite both pass. Its keys are free-form strings, not the normal-form keys below.
//
// # Keys
//
// A key is a slash-separated path in normal form (see [ValidKey]): no leading or trailing
// slash, no empty, "." or ".." segments, no NUL, backslash or other control characters, valid
// UTF-8, at most [MaxKeyLen] bytes and [MaxSegmentLen] bytes per segment. [CleanKey] turns a
// request path into that form or refuses it. The empty key "" names the root directory: it is
// a valid prefix for List but never the key of an entry. A key cannot be both an entry and a
// directory (a prefix of other keys); such a write fails with [ErrConflict].
//
// Store methods that take a key want it in normal form and return [ErrInvalidKey] otherwise;
// a well-formed key that is absent gives [ErrNotFound]. These sentinels are returned
// unwrapped by the lookups (Get, Info, Lookup, List) so a miss costs no allocation; writes
// wrap them with the key. Test with errors.Is.
//
// # Ownership
//
// Byte slices handed out by a store (Get, Entry.Data, Variant.Data) are views of the stored
// content, shared by every reader: callers must not modify them. Byte slices handed to a
// store (Set, LoadImage) become the store's: callers must not modify them afterwards.
package kv
