package xenstore

import "errors"

// Errors of the xenstore client, the ring stream and the value parsers.
var (
	// ErrNotFound is xenstore's ENOENT.
	ErrNotFound = Error("ENOENT")
	// ErrAgain is xenstore's EAGAIN: a transaction conflicted and must be redone.
	ErrAgain = Error("EAGAIN")
	// ErrClosed is returned after a connection or a watch was closed.
	ErrClosed = errors.New("xenstore: closed")
	// ErrBadValue is returned for a malformed xenstore value.
	ErrBadValue = errors.New("xenstore: malformed value")
	// ErrProtocol is returned for a malformed xenstore message or ring.
	ErrProtocol = errors.New("xenstore: protocol error")
)

// Error is an error xenstored returned (an XS_ERROR message): an errno name such as "ENOENT",
// "EACCES", "EAGAIN" or "EINVAL".
type Error string

// Error implements error.
func (e Error) Error() string { return "xenstore: " + string(e) }
