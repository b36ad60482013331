package netstack

import (
	"errors"
	"net"
)

// Link is the frame interface every NIC implements: the virtio and xenfront drivers and the
// hosted links (TAP, socket, pipe, pcap, the user-mode network). It carries Ethernet frames
// (destination MAC first, no FCS) in batches, with offload metadata that has virtio_net_hdr
// semantics, so checksum offload, TSO and GRO pass through any link that supports them.
//
// Drivers satisfy Link implicitly and never import gVisor; [New] adapts a Link to the stack.
//
// # Ownership
//
// Received frames are lent: the link hands a batch to [Receiver.DeliverFrames] and the receiver
// gives every frame back with [Link.Release], during the call or later, from any goroutine.
// Until then the link must not reuse the frame's memory. The stack's adapter copies each frame
// into the stack's pooled buffers and releases it before DeliverFrames returns.
//
// Transmitted frames are borrowed for the duration of [Link.Transmit] only: the link copies or
// writes them out before it returns and keeps no reference to their memory.
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

	// Start begins delivering received frames and link-state changes to r. It is called at
	// most once; DeliverFrames is called from the link's own goroutines, never concurrently
	// for the same link unless the link documents otherwise.
	Start(r Receiver) error

	// Transmit sends frames and returns how many it took. The frames are borrowed for the
	// duration of the call. It returns [ErrClosed] after Close and [ErrLinkDown] while the
	// link is down. It may be called from several goroutines at once.
	Transmit(frames []Frame) (int, error)

	// Release gives received frames back to the link. Each frame must have come from a
	// DeliverFrames call of this link and be released exactly once.
	Release(frames []Frame)

	// Up reports whether the link is up (carrier present).
	Up() bool

	// Stats returns a snapshot of the link's counters.
	Stats() LinkStats

	// Close stops the link; its goroutines have ended when Close returns. It is idempotent.
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

// Frame is one Ethernet frame with its offload metadata.
type Frame struct {
	// Segments hold the frame's bytes in order, starting at the destination MAC. A frame is
	// usually one segment; drivers with scatter-gather buffers may use several.
	Segments [][]byte

	// Offload is the frame's virtio_net_hdr metadata. The zero value means a complete frame
	// with no checksum or segmentation work pending.
	Offload Offload

	// Cookie is the link's own identifier for a received frame's buffer (a descriptor or
	// slot index); receivers pass it back unchanged through Release and never interpret it.
	Cookie uint64
}

// Len returns the frame's length in bytes.
func (f *Frame) Len() int {
	n := 0
	for _, s := range f.Segments {
		n += len(s)
	}
	return n
}

// Offload is per-frame offload metadata with the semantics of the VIRTIO 1.2 virtio_net_hdr
// (section 5.1.6), which Linux TAP, AF_PACKET and vhost share.
type Offload struct {
	// Flags is a combination of [FlagNeedsCsum] and [FlagDataValid].
	Flags OffloadFlags
	// GSOType says how a frame larger than the MTU must be segmented.
	GSOType GSOType
	// HdrLen is the length of the Ethernet, IP and transport headers of a GSO frame.
	HdrLen uint16
	// GSOSize is the payload length of each segment (the MSS) of a GSO frame.
	GSOSize uint16
	// CsumStart is the offset from the start of the frame where checksumming begins.
	CsumStart uint16
	// CsumOffset is the offset after CsumStart at which the checksum is stored.
	CsumOffset uint16
}

// OffloadFlags are the virtio_net_hdr flags.
type OffloadFlags uint8

const (
	// FlagNeedsCsum (VIRTIO_NET_HDR_F_NEEDS_CSUM) marks a frame whose transport checksum
	// holds only the pseudo-header sum; the rest is computed from CsumStart to the end and
	// stored at CsumStart+CsumOffset.
	FlagNeedsCsum OffloadFlags = 1
	// FlagDataValid (VIRTIO_NET_HDR_F_DATA_VALID) marks a received frame whose checksums were
	// already verified.
	FlagDataValid OffloadFlags = 2
)

// GSOType is the virtio_net_hdr gso_type.
type GSOType uint8

const (
	// GSONone is a frame that needs no segmentation.
	GSONone GSOType = 0
	// GSOTCPv4 is an IPv4 TCP frame to be segmented (TSO/GRO).
	GSOTCPv4 GSOType = 1
	// GSOUDP is UDP fragmentation offload (UFO).
	GSOUDP GSOType = 3
	// GSOTCPv6 is an IPv6 TCP frame to be segmented.
	GSOTCPv6 GSOType = 4
	// GSOUDPL4 is UDP segmentation offload (USO).
	GSOUDPL4 GSOType = 5
	// GSOECN is set together with a TCP type when the frame has ECN's CWR bit set.
	GSOECN GSOType = 0x80
)

// Features is the set of offloads a link supports.
type Features uint32

const (
	// FeatureTxCsum: Transmit accepts frames with FlagNeedsCsum.
	FeatureTxCsum Features = 1 << iota
	// FeatureTxTSO4: Transmit accepts GSOTCPv4 frames up to [MaxGSOSize]. Implies FeatureTxCsum.
	FeatureTxTSO4
	// FeatureTxTSO6: Transmit accepts GSOTCPv6 frames up to [MaxGSOSize]. Implies FeatureTxCsum.
	FeatureTxTSO6
	// FeatureRxCsum: received frames may carry FlagNeedsCsum or FlagDataValid.
	FeatureRxCsum
	// FeatureRxGRO: received frames may be GSO frames up to [MaxGSOSize].
	FeatureRxGRO
)

// Has reports whether every feature in want is in f.
func (f Features) Has(want Features) bool { return f&want == want }

// MaxGSOSize is the largest GSO frame, Ethernet header included, a link may transmit or deliver.
const MaxGSOSize = 65536 + EthernetHeaderLen

// EthernetHeaderLen is the length of an Ethernet header without VLAN tag.
const EthernetHeaderLen = 14

// LinkStats are a link's counters. Links count what they see at their own boundary.
type LinkStats struct {
	RxFrames  uint64 // frames delivered to the receiver
	RxBytes   uint64 // bytes of those frames
	RxDropped uint64 // frames received but not delivered (malformed, too large, no receiver)
	RxErrors  uint64 // receive errors reported by the device or transport
	TxFrames  uint64 // frames accepted by Transmit
	TxBytes   uint64 // bytes of those frames
	TxDropped uint64 // frames dropped on transmit (link down, impairment, queue full)
	TxErrors  uint64 // transmit errors reported by the device or transport
}

// Errors links return.
var (
	// ErrClosed is returned by a link's methods after Close.
	ErrClosed = errors.New("netstack: link closed")
	// ErrLinkDown is returned by Transmit while the link is down.
	ErrLinkDown = errors.New("netstack: link down")
	// ErrQueueFull is returned by a non-blocking Transmit that took fewer frames than given.
	ErrQueueFull = errors.New("netstack: link transmit queue full")
	// ErrFrameTooLarge is returned for a frame longer than the link can carry.
	ErrFrameTooLarge = errors.New("netstack: frame too large")
)
