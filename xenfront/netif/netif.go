package netif

import (
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/ring"
)

// TxRingSize and RxRingSize are the slot counts of the TX and RX rings on a 4 KiB page
// (NET_TX_RING_SIZE, NET_RX_RING_SIZE).
const (
	TxRingSize = 256
	RxRingSize = 256
)

// NrSlotsMin is XEN_NETIF_NR_SLOTS_MIN: every back end accepts packets of this many data
// slots, and a front end accepts no more on receive.
const NrSlotsMin = 18

// MaxTxSize is XEN_NETIF_MAX_TX_SIZE, the largest packet the 16-bit size field describes.
const MaxTxSize = 0xFFFF

// TxRequest is struct netif_tx_request (12 bytes).
type TxRequest struct {
	Gref   xenfront.GrantRef // grant of the page holding this slot's data
	Offset uint16            // offset of the data within the page
	Flags  uint16            // NETTXF_*
	ID     uint16            // echoed in the response
	Size   uint16            // first slot: the packet's total length; later slots: this slot's length
}

// TX request flags (NETTXF_*).
const (
	TxfCsumBlank     = 1 << 0 // L4 checksum not filled in
	TxfDataValidated = 1 << 1 // checksum already verified
	TxfMoreData      = 1 << 2 // another data slot of this packet follows
	TxfExtraInfo     = 1 << 3 // the next slot holds a netif_extra_info
)

// TxResponse is struct netif_tx_response (4 bytes).
type TxResponse struct {
	ID     uint16 // the request's id
	Status int16  // NETIF_RSP_*
}

// Response status values (NETIF_RSP_*).
const (
	RspDropped = -2
	RspError   = -1
	RspOkay    = 0
	RspNull    = 1 // response to an extra-info slot
)

// RxRequest is struct netif_rx_request (8 bytes).
type RxRequest struct {
	ID   uint16
	_    uint16
	Gref xenfront.GrantRef // writable grant of the page the back end copies into
}

// RxResponse is struct netif_rx_response (8 bytes).
type RxResponse struct {
	ID     uint16
	Offset uint16 // where the data starts in the page
	Flags  uint16 // NETRXF_*
	Status int16  // >= 0: bytes of data in this slot; < 0: NETIF_RSP_* error
}

// RX response flags (NETRXF_*).
const (
	RxfDataValidated = 1 << 0
	RxfCsumBlank     = 1 << 1
	RxfMoreData      = 1 << 2
	RxfExtraInfo     = 1 << 3
	RxfGSOPrefix     = 1 << 4
)

// Ring types of the netif protocol. A TX slot is 12 bytes and an RX slot 8, so both rings hold
// 256 slots on a 4 KiB page. Extra-info slots are written into a request slot as an ExtraInfo.
type (
	// TxFrontRing is the front end's TX ring.
	TxFrontRing = ring.Front[TxRequest, TxResponse]
	// RxFrontRing is the front end's RX ring.
	RxFrontRing = ring.Front[RxRequest, RxResponse]
	// TxBackRing is the back end's TX ring.
	TxBackRing = ring.Back[TxRequest, TxResponse]
	// RxBackRing is the back end's RX ring.
	RxBackRing = ring.Back[RxRequest, RxResponse]
)
