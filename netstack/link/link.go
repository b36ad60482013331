package link

import "net"

// Link is the frame interface every NIC implements: the virtio and xenfront drivers and the
// hosted links (TAP, socket, pipe, pcap, the user-mode network). It carries Ethernet frames
// (destination MAC first, no FCS) in batches, with offload metadata that has virtio_net_hdr
// semantics, so checksum offload, TSO and GRO pass through any link that supports them.
//
// Drivers satisfy Link implicitly and never import gVisor; netstack.New adapts a Link to the
// stack. This package imports nothing beyond the standard library, so a driver built on it
// builds alone.
//
// # Ownership
//
// Received frames are lent: the link hands a batch to [Receiver.DeliverFrames] and the receiver
// gives every frame back with [Link.Release], during the call or later, from any goroutine.
// Until then the link must not reuse, change or unmap the frame's memory, even after Close: a
// frame lent before Close stays readable until its release, and Release after Close is
// harmless. Frames lent at the same time have distinct Cookies. The stack's adapter copies
// each frame into the stack's pooled buffers and releases it before DeliverFrames returns.
//
// Transmitted frames are borrowed for the duration of [Link.Transmit] only: the link copies or
// writes them out before it returns and keeps no reference to their memory.
//
// # Offloads
//
// A frame arrives with at most the work its sender left pending: a frame sent with complete
// checksums never arrives with [FlagNeedsCsum] (it may arrive with [FlagDataValid] on a link
// with [FeatureRxCsum]), and a frame sent without GSO never arrives as a GSO frame. A frame
// sent with FlagNeedsCsum arrives with its checksum still pending, on a link with
// FeatureRxCsum, or completed; a TSO frame arrives as GSO frames, on a link with
// [FeatureRxGRO], or as segments no longer than the MTU with complete checksums.
//
// # Frames too long
//
// A frame longer than the link carries (without GSO, MTU+14 bytes unless the link's doc
// comment allows more, such as a VLAN tag; with TSO, [MaxGSOSize]) is never delivered:
// Transmit either refuses it with [ErrFrameTooLarge], returning the number of frames before
// it, or takes it, drops it and counts it in TxDropped. The link's doc comment says which.
//
// # Back-pressure
//
// Transmit never queues without bound. A link whose queue is full either blocks until there is
// room or returns the number of frames it took with [ErrQueueFull]; its doc comment says which.
// A receiver that cannot keep up makes DeliverFrames slow, which holds up the link's reader.
type Link interface {
	// MAC returns the link's Ethernet address. The caller must not modify it.
	MAC() net.HardwareAddr

	// MTU returns the largest IP packet, in bytes, the link carries without GSO: the frame
	// length minus the 14-byte Ethernet header.
	MTU() int

	// Features reports the offloads the link supports; constant for the link's lifetime.
	Features() Features

	// Start begins delivering received frames and link-state changes to r. It returns
	// [ErrNilReceiver] if r is nil, [ErrStarted] if the link was started before and
	// [ErrClosed] after Close. DeliverFrames is called from the link's own goroutines, never
	// concurrently for the same link unless the link documents otherwise.
	Start(r Receiver) error

	// Transmit sends frames and returns how many it took. The frames are borrowed for the
	// duration of the call. It returns [ErrClosed] after Close, also from a call blocked when
	// Close began, and [ErrLinkDown] while the link is down. It may be called from several
	// goroutines at once.
	Transmit(frames []Frame) (int, error)

	// Release gives received frames back to the link. Each frame must have come from a
	// DeliverFrames call of this link and be released exactly once. It may come after Close,
	// which it does not disturb.
	Release(frames []Frame)

	// Up reports whether the link is up (carrier present); false after Close.
	Up() bool

	// Stats returns a snapshot of the link's counters.
	Stats() Stats

	// Close stops the link; its goroutines have ended when Close returns. It is idempotent and
	// returns nil, also on a link never started.
	Close() error
}

// Receiver consumes what a [Link] receives. The stack's adapter implements it.
type Receiver interface {
	// DeliverFrames hands a batch of received frames to the receiver, which must give each
	// back with [Link.Release]. The slice itself is only valid during the call.
	DeliverFrames(frames []Frame)

	// LinkStateChanged tells the receiver that the link went up or down.
	LinkStateChanged(up bool)
}
