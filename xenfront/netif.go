package xenfront

import "encoding/binary"

// The netif protocol's shared structures (io/netif.h). Each Go type has exactly the size and
// field offsets of its C counterpart (layout_test.go pins them); slots are native-endian like
// the Xen ABI, and every Go architecture this module builds for is little-endian.

// NetTxRingSize and NetRxRingSize are the slot counts of the TX and RX rings on a 4 KiB page
// (NET_TX_RING_SIZE, NET_RX_RING_SIZE).
const (
	NetTxRingSize = 256
	NetRxRingSize = 256
)

// NetifNrSlotsMin is XEN_NETIF_NR_SLOTS_MIN: every back end accepts packets of this many data
// slots, and a front end accepts no more on receive.
const NetifNrSlotsMin = 18

// NetifMaxTxSize is XEN_NETIF_MAX_TX_SIZE, the largest packet the 16-bit size field describes.
const NetifMaxTxSize = 0xFFFF

// TxRequest is struct netif_tx_request (12 bytes).
type TxRequest struct {
	Gref   GrantRef // grant of the page holding this slot's data
	Offset uint16   // offset of the data within the page
	Flags  uint16   // NETTXF_*
	ID     uint16   // echoed in the response
	Size   uint16   // first slot: the packet's total length; later slots: this slot's length
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
	Gref GrantRef // writable grant of the page the back end copies into
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

// ExtraInfo is struct netif_extra_info (8 bytes): type, flags and a 6-byte union whose
// interpretation depends on the type. It occupies a whole request or response slot.
type ExtraInfo struct {
	Type  uint8
	Flags uint8
	U     [6]byte
}

// Extra-info types (XEN_NETIF_EXTRA_TYPE_*) and flags.
const (
	ExtraTypeNone      = 0
	ExtraTypeGSO       = 1
	ExtraTypeMcastAdd  = 2
	ExtraTypeMcastDel  = 3
	ExtraTypeHash      = 4
	ExtraTypeXDP       = 5
	ExtraTypeMax       = 6
	ExtraFlagMore      = 1 << 0 // another extra-info slot follows
	GSOTypeNone        = 0      // XEN_NETIF_GSO_TYPE_NONE
	GSOTypeTCPv4       = 1      // XEN_NETIF_GSO_TYPE_TCPV4
	GSOTypeTCPv6       = 2      // XEN_NETIF_GSO_TYPE_TCPV6
	extraGSOSizeOffset = 0      // u.gso.size within U
	extraGSOTypeOffset = 2      // u.gso.type within U
)

// GSOExtra returns a GSO extra-info slot for segments of mss bytes of the given GSOType*.
func GSOExtra(mss uint16, gsoType uint8) ExtraInfo {
	e := ExtraInfo{Type: ExtraTypeGSO}
	binary.LittleEndian.PutUint16(e.U[extraGSOSizeOffset:], mss)
	e.U[extraGSOTypeOffset] = gsoType
	return e
}

// GSO returns the MSS and GSO type of a GSO extra-info slot.
func (e *ExtraInfo) GSO() (mss uint16, gsoType uint8) {
	return binary.LittleEndian.Uint16(e.U[extraGSOSizeOffset:]), e.U[extraGSOTypeOffset]
}

// Ring types of the netif protocol. A TX slot is 12 bytes and an RX slot 8, so both rings hold
// 256 slots on a 4 KiB page. Extra-info slots are written into a request slot as an ExtraInfo.
type (
	// TxFrontRing is the front end's TX ring.
	TxFrontRing = FrontRing[TxRequest, TxResponse]
	// RxFrontRing is the front end's RX ring.
	RxFrontRing = FrontRing[RxRequest, RxResponse]
	// TxBackRing is the back end's TX ring.
	TxBackRing = BackRing[TxRequest, TxResponse]
	// RxBackRing is the back end's RX ring.
	RxBackRing = BackRing[RxRequest, RxResponse]
)

// TxExtra reinterprets a TX request slot's contents as the extra-info it carries.
func TxExtra(req *TxRequest) ExtraInfo { return extraFrom(txBytes(req)[:]) }

// TxRequestFromExtra returns a TX request slot whose first 8 bytes hold e.
func TxRequestFromExtra(e ExtraInfo) TxRequest {
	var r TxRequest
	putExtra(txBytes(&r)[:], e)
	return r
}

// RxExtra reinterprets an RX response slot as the extra-info it carries.
func RxExtra(rsp *RxResponse) ExtraInfo { return extraFrom(rxBytes(rsp)[:]) }

// RxResponseFromExtra returns an RX response slot holding e.
func RxResponseFromExtra(e ExtraInfo) RxResponse {
	var r RxResponse
	putExtra(rxBytes(&r)[:], e)
	return r
}

// extraFrom reads the netif_extra_info held in the first 8 bytes of a ring slot.
func extraFrom(b []byte) ExtraInfo {
	e := ExtraInfo{Type: b[0], Flags: b[1]}
	copy(e.U[:], b[2:8])
	return e
}

// putExtra writes e into the first 8 bytes of a ring slot.
func putExtra(b []byte, e ExtraInfo) {
	b[0], b[1] = e.Type, e.Flags
	copy(b[2:8], e.U[:])
}
