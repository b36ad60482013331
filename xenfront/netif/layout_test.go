package netif_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/xenfront/netif"
)

// The numbers below are the sizes and offsets of Xen's io/netif.h (xen/include/public). They
// are the ABI; the Go types must match them byte for byte.

func TestNetifLayout(t *testing.T) {
	var tx netif.TxRequest
	require.EqualValues(t, 12, unsafe.Sizeof(tx), "sizeof(struct netif_tx_request)")
	require.EqualValues(t, 0, unsafe.Offsetof(tx.Gref))
	require.EqualValues(t, 4, unsafe.Offsetof(tx.Offset))
	require.EqualValues(t, 6, unsafe.Offsetof(tx.Flags))
	require.EqualValues(t, 8, unsafe.Offsetof(tx.ID))
	require.EqualValues(t, 10, unsafe.Offsetof(tx.Size))

	var txr netif.TxResponse
	require.EqualValues(t, 4, unsafe.Sizeof(txr), "sizeof(struct netif_tx_response)")
	require.EqualValues(t, 0, unsafe.Offsetof(txr.ID))
	require.EqualValues(t, 2, unsafe.Offsetof(txr.Status))

	var rx netif.RxRequest
	require.EqualValues(t, 8, unsafe.Sizeof(rx), "sizeof(struct netif_rx_request)")
	require.EqualValues(t, 0, unsafe.Offsetof(rx.ID))
	require.EqualValues(t, 4, unsafe.Offsetof(rx.Gref))

	var rxr netif.RxResponse
	require.EqualValues(t, 8, unsafe.Sizeof(rxr), "sizeof(struct netif_rx_response)")
	require.EqualValues(t, 0, unsafe.Offsetof(rxr.ID))
	require.EqualValues(t, 2, unsafe.Offsetof(rxr.Offset))
	require.EqualValues(t, 4, unsafe.Offsetof(rxr.Flags))
	require.EqualValues(t, 6, unsafe.Offsetof(rxr.Status))

	var e netif.ExtraInfo
	require.EqualValues(t, 8, unsafe.Sizeof(e), "sizeof(struct netif_extra_info)")
	require.EqualValues(t, 0, unsafe.Offsetof(e.Type))
	require.EqualValues(t, 1, unsafe.Offsetof(e.Flags))
	require.EqualValues(t, 2, unsafe.Offsetof(e.U))

	// u.gso: size u16 @2, type u8 @4, pad u8 @5, features u16 @6 of the slot.
	g := netif.GSOExtra(1448, netif.GSOTypeTCPv6)
	raw := (*[8]byte)(unsafe.Pointer(&g))
	require.Equal(t, [8]byte{netif.ExtraTypeGSO, 0, 0xa8, 0x05, netif.GSOTypeTCPv6, 0, 0, 0}, *raw)
	req := netif.TxRequestFromExtra(g)
	require.Equal(t, g, netif.TxExtra(&req))
	rsp := netif.RxResponseFromExtra(g)
	require.Equal(t, g, netif.RxExtra(&rsp))
	mss, typ := g.GSO()
	require.EqualValues(t, 1448, mss)
	require.EqualValues(t, netif.GSOTypeTCPv6, typ)
}
