package netif

import "encoding/binary"

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
