package virtio

// Feature bits shared by all device types (section 6, "Reserved Feature Bits").
const (
	FeatureIndirectDesc   = 1 << 28 // VIRTIO_F_INDIRECT_DESC
	FeatureEventIdx       = 1 << 29 // VIRTIO_F_EVENT_IDX
	FeatureVersion1       = 1 << 32 // VIRTIO_F_VERSION_1
	FeatureAccessPlatform = 1 << 33 // VIRTIO_F_ACCESS_PLATFORM
	FeatureRingPacked     = 1 << 34 // VIRTIO_F_RING_PACKED
	FeatureInOrder        = 1 << 35 // VIRTIO_F_IN_ORDER
	FeatureOrderPlatform  = 1 << 36 // VIRTIO_F_ORDER_PLATFORM
)

// Feature bits of the network device (section 5.1.3).
const (
	NetFCsum        = 1 << 0  // VIRTIO_NET_F_CSUM: device handles partial transmit checksums
	NetFGuestCsum   = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM: driver handles partial receive checksums
	NetFMTU         = 1 << 3  // VIRTIO_NET_F_MTU
	NetFMAC         = 1 << 5  // VIRTIO_NET_F_MAC
	NetFGuestTSO4   = 1 << 7  // VIRTIO_NET_F_GUEST_TSO4
	NetFGuestTSO6   = 1 << 8  // VIRTIO_NET_F_GUEST_TSO6
	NetFGuestECN    = 1 << 9  // VIRTIO_NET_F_GUEST_ECN
	NetFHostTSO4    = 1 << 11 // VIRTIO_NET_F_HOST_TSO4
	NetFHostTSO6    = 1 << 12 // VIRTIO_NET_F_HOST_TSO6
	NetFHostECN     = 1 << 13 // VIRTIO_NET_F_HOST_ECN
	NetFMrgRxbuf    = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF
	NetFStatus      = 1 << 16 // VIRTIO_NET_F_STATUS
	NetFCtrlVQ      = 1 << 17 // VIRTIO_NET_F_CTRL_VQ
	NetFMQ          = 1 << 22 // VIRTIO_NET_F_MQ
	NetFCtrlMACAddr = 1 << 23 // VIRTIO_NET_F_CTRL_MAC_ADDR
	NetFSpeedDuplex = 1 << 63 // VIRTIO_NET_F_SPEED_DUPLEX
)
