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
}

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
