package linuxdom

import (
	"errors"
	"io"

	"github.com/unikit/unikit/xenfront/xenstore"
)

// Store is xenstore.Store on Linux's /dev/xen/xenbus device, over two open files of it: one
// carries every request except XS_WATCH and XS_UNWATCH (reads, writes, removals, directory
// listings, transactions), the other only XS_WATCH and XS_UNWATCH, and receives the watch
// events.
//
// The split avoids a deadlock in the kernel driver (drivers/xen/xenbus/xenbus_dev_frontend.c).
// xenbus_file_write holds the file's msgbuffer_mutex while it handles a request; for XS_WATCH
// and XS_UNWATCH it calls register_/unregister_xenbus_watch, a synchronous kernel xenstore
// request (xs_talkv) that waits, uninterruptibly, for the xenbus kthread to deliver its reply.
// When a reply to another request still outstanding on the same file reaches the kthread
// first, the kthread runs xenbus_dev_queue_reply, which starts with
// mutex_lock(&u->msgbuffer_mutex): held by the watch request, which waits for the kthread.
// Every xenstore access of the domain stops, and the process cannot be killed. A client that
// pipelines requests from several goroutines (as xenstore.Client does) meets this whenever a
// Watch or Watch.Close races with a Read. On the watch file no request ever takes the
// xenbus_dev_queue_reply path: the driver synthesises the XS_WATCH and XS_UNWATCH replies
// itself, and watch_fired queues events on the file that registered the watch under the
// file's reply_mutex only. Transactions stay on the request file, as the driver tracks them
// per file.
type Store struct {
	requests *xenstore.Client
	watches  *xenstore.Client
}

var _ xenstore.Store = (*Store)(nil)

// newStore returns a Store over two open xenbus files; it owns and closes both.
func newStore(requests, watches io.ReadWriteCloser) *Store {
	return &Store{requests: xenstore.NewClient(requests), watches: xenstore.NewClient(watches)}
}

// Read implements xenstore.Store.
func (s *Store) Read(tx xenstore.TxID, path string) (string, error) {
	return s.requests.Read(tx, path)
}

// Write implements xenstore.Store.
func (s *Store) Write(tx xenstore.TxID, path, value string) error {
	return s.requests.Write(tx, path, value)
}

// Remove implements xenstore.Store.
func (s *Store) Remove(tx xenstore.TxID, path string) error {
	return s.requests.Remove(tx, path)
}

// Directory implements xenstore.Store.
func (s *Store) Directory(tx xenstore.TxID, path string) ([]string, error) {
	return s.requests.Directory(tx, path)
}

// Start implements xenstore.Store.
func (s *Store) Start() (xenstore.TxID, error) { return s.requests.Start() }

// End implements xenstore.Store.
func (s *Store) End(tx xenstore.TxID, commit bool) error { return s.requests.End(tx, commit) }

// Watch implements xenstore.Store on the watch file, which then delivers the watch's events
// (the driver queues them on the file that registered the watch).
func (s *Store) Watch(path string) (*xenstore.Watch, error) { return s.watches.Watch(path) }

// Close closes both files; pending requests fail. It is idempotent.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	return errors.Join(s.requests.Close(), s.watches.Close())
}
