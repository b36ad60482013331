package tap

import (
	"errors"
	"net"
)

// Config configures a TAP link. A nil *Config, and the zero value of every field, mean the
// defaults.
type Config struct {
	// MAC is the stack's Ethernet address on the link. Default: a random locally administered
	// unicast address.
	MAC net.HardwareAddr

	// MTU is the largest IP packet the link carries without GSO. Default: 1500. The kernel
	// side's MTU is configured separately (with `ip link set NAME mtu N`) and should match.
	MTU int

	// NoOffload turns off checksum offload, TSO and GRO: the kernel then sends only complete
	// frames no longer than the MTU, and the link reports no features.
	NoOffload bool

	// CompleteChecksums makes the link finish partial checksums (FlagNeedsCsum frames, which
	// the kernel sends for locally generated traffic when checksum offload is on) itself, and
	// deliver such frames with FlagDataValid instead. It is for receivers that cannot act on
	// FlagNeedsCsum; the stack's adapter can, so by default frames are delivered as the kernel
	// sent them. Completing a checksum is one read pass over the frame.
	CompleteChecksums bool

	// Batch is the largest number of frames the reader delivers per wake-up. Default: 32; at
	// most 1024.
	Batch int

	// Buffers is the number of receive buffers in the link's pool. Default: 4 × Batch. It is
	// raised to Batch if smaller; at most 4096. With GRO each buffer takes 64 KiB.
	Buffers int

	// TxQueueLen is the least length of the kernel's queue of frames waiting for the link's
	// reader (the device's txqueuelen): Open raises a shorter one to it, when the process may
	// (CAP_NET_ADMIN in the device's network namespace), and leaves the device as it is
	// otherwise. The kernel drops what arrives when that queue is full, and TCP senders then
	// wait for a retransmission timeout: Linux's default of 1,000 frames overflows when the
	// reader is a few milliseconds late with hundreds of connections sending (blog over TAP,
	// 4 KiB × 500: ~280 frames dropped in 5 s, p99 latency 29-33 ms, worst 240 ms; with 8,192
	// none, 14-15 ms and 27-31 ms). Default: [DefaultTxQueueLen]; negative leaves the queue
	// alone.
	TxQueueLen int
}

// DefaultTxQueueLen is the default of [Config].TxQueueLen. The queue costs nothing while the
// reader keeps up; while it is late, the kernel holds up to this many frames in it instead of
// dropping them (small ones for request/response traffic; up to 64 KiB each for bulk data
// with GRO, whose local senders' socket buffers bound it in turn).
const DefaultTxQueueLen = 8192

// OffloadStats count the frames that used offloads, beyond [link.Stats]: they show
// whether TSO, GRO and checksum offload are actually in use on a link.
type OffloadStats struct {
	RxGSO       uint64 // received GSO (GRO) frames, GSOType != GSONone
	RxNeedsCsum uint64 // received frames with a partial checksum (FlagNeedsCsum)
	RxDataValid uint64 // frames delivered with FlagDataValid: verified by the kernel (or completed by the link)
	TxGSO       uint64 // transmitted GSO (TSO) frames
	TxNeedsCsum uint64 // transmitted frames with a partial checksum
}

const (
	defaultMTU   = 1500
	defaultBatch = 32
	maxBatch     = 1024
	maxBuffers   = 4096
	// vlanHeaderLen is headroom in receive buffers for a VLAN tag the kernel may leave in.
	vlanHeaderLen = 4
)

// ErrBadConfig is returned by Open for an invalid Config.
var ErrBadConfig = errors.New("tap: invalid config")
