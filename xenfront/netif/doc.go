// Package netif holds the slot layouts of Xen's network protocol (io/netif.h): the TX and RX
// requests and responses a netfront and a netback exchange, their flags and status values,
// and the extra-info slot (netif_extra_info) that carries GSO metadata, together with the ring
// types built from them on package ring (TxFrontRing, RxFrontRing, TxBackRing, RxBackRing).
//
// The names drop the C prefixes: netif_tx_request is TxRequest, NETTXF_more_data is
// TxfMoreData, NETRXF_extra_info RxfExtraInfo, NETIF_RSP_NULL RspNull,
// XEN_NETIF_NR_SLOTS_MIN NrSlotsMin.
//
// Each Go type has exactly the size and field offsets of its C counterpart; layout_test.go
// pins them (netif_tx_request 12 bytes, netif_tx_response 4, netif_rx_request and
// netif_rx_response 8, netif_extra_info 8). Slots are native-endian like the Xen ABI, and every
// architecture this module builds for is little-endian. An extra-info slot shares its ring
// slot with a request or response (a C union): TxExtra, RxExtra and their inverses
// reinterpret one as the other.
//
// The package only describes the wire; the driver is package netfront and a simulated back
// end is in package xentest.
package netif
