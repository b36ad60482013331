package xenstore

// TxID is a xenstore transaction id (the tx_id of struct xsd_sockmsg); 0 means no transaction.
type TxID uint32

// Store is a xenstore connection (xs_wire.h, docs/misc/xenstore.txt). Paths not starting with
// '/' are relative to /local/domain/<own domid>. Client implements it over the wire protocol;
// xentest's simulated xenstore implements it directly.
type Store interface {
	// Read returns the value at path; ErrNotFound if it does not exist.
	Read(tx TxID, path string) (string, error)
	// Write sets path to value, creating missing parents.
	Write(tx TxID, path, value string) error
	// Remove deletes path and everything below it.
	Remove(tx TxID, path string) error
	// Directory lists the names of path's children.
	Directory(tx TxID, path string) ([]string, error)
	// Start begins a transaction.
	Start() (TxID, error)
	// End commits (commit true) or aborts a transaction. A commit that conflicts with another
	// change returns ErrAgain: the caller redoes the whole transaction.
	End(tx TxID, commit bool) error
	// Watch reports changes at or below path. As in xenstored, one event fires right away.
	Watch(path string) (*Watch, error)
}

// Watch delivers the paths of xenstore changes. Events are hints: a watcher re-reads the state
// it cares about after each one. When the watcher is slow, events are coalesced (dropped while
// C already holds unread events), never queued without bound.
type Watch struct {
	// C receives the path that changed.
	C <-chan string

	stop func()
}

// NewWatch returns a Watch delivering on c whose Close calls stop once. It is for Store
// implementations.
func NewWatch(c <-chan string, stop func()) *Watch { return &Watch{C: c, stop: stop} }

// Close removes the watch. It is idempotent.
func (w *Watch) Close() error {
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	return nil
}
