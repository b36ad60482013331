package link

import "errors"

// Errors links return. Every link returns these sentinels (wrapped with more detail where it
// helps, so match them with errors.Is), which the conformance suite in linktest checks.
var (
	// ErrStarted is returned by Start on a link that was already started.
	ErrStarted = errors.New("link: already started")
	// ErrNilReceiver is returned by Start when the receiver is nil.
	ErrNilReceiver = errors.New("link: nil receiver")
	// ErrClosed is returned by a link's methods after Close.
	ErrClosed = errors.New("link: link closed")
	// ErrLinkDown is returned by Transmit while the link is down.
	ErrLinkDown = errors.New("link: link down")
	// ErrQueueFull is returned by a non-blocking Transmit that took fewer frames than given.
	ErrQueueFull = errors.New("link: link transmit queue full")
	// ErrFrameTooLarge is returned for a frame longer than the link can carry.
	ErrFrameTooLarge = errors.New("link: frame too large")
)
