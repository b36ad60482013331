package link

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
	// stored at CsumStart+CsumOffset. In a GSO frame the pseudo-header counts the whole
	// transport length of the large packet, as Linux writes it.
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

// MaxGSOSize is the largest GSO frame, Ethernet header included, a link may transmit or deliver.
const MaxGSOSize = 65536 + EthernetHeaderLen

// EthernetHeaderLen is the length of an Ethernet header without VLAN tag.
const EthernetHeaderLen = 14
