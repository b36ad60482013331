package httpserve

import "github.com/unikit/unikit/kv"

// Store is what httpserve reads a site from. It is deliberately small, and defined here, by
// its consumer: every kv store (kv.Mem, kv.Swap, a kv.Snapshot, a loaded content image)
// satisfies it, and a test or an application may supply its own.
//
// Lookup returns the entry of a key in kv's normal form ("about/index.html": no leading
// slash), with its content, digest, content type and precompressed variants; the entry is
// shared and must not be modified. Any error means "absent": kv.ErrNotFound and
// kv.ErrInvalidKey are the expected ones. Lookup must be safe for concurrent use and should
// not allocate.
//
// Generation identifies the current content. httpserve prepares responses (header blocks
// serialised once, bodies referenced from the store) and caches them for one generation;
// when Generation changes, it discards them and reads the site's rule files again. A store
// whose content never changes may return a constant.
type Store interface {
	Lookup(key string) (*kv.Entry, error)
	Generation() uint64
}

var _ Store = kv.Store(nil)
