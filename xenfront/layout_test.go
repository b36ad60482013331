package xenfront

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The numbers below are the sizes and offsets of Xen's public headers (xen/include/public):
// io/netif.h, io/ring.h, io/xs_wire.h. They are the ABI; the Go types must match byte for byte.

func TestNetifLayout(t *testing.T) {
	var tx TxRequest
	require.EqualValues(t, 12, unsafe.Sizeof(tx), "sizeof(struct netif_tx_request)")
	require.EqualValues(t, 0, unsafe.Offsetof(tx.Gref))
	require.EqualValues(t, 4, unsafe.Offsetof(tx.Offset))
	require.EqualValues(t, 6, unsafe.Offsetof(tx.Flags))
	require.EqualValues(t, 8, unsafe.Offsetof(tx.ID))
	require.EqualValues(t, 10, unsafe.Offsetof(tx.Size))

	var txr TxResponse
	require.EqualValues(t, 4, unsafe.Sizeof(txr), "sizeof(struct netif_tx_response)")
	require.EqualValues(t, 0, unsafe.Offsetof(txr.ID))
	require.EqualValues(t, 2, unsafe.Offsetof(txr.Status))

	var rx RxRequest
	require.EqualValues(t, 8, unsafe.Sizeof(rx), "sizeof(struct netif_rx_request)")
	require.EqualValues(t, 0, unsafe.Offsetof(rx.ID))
	require.EqualValues(t, 4, unsafe.Offsetof(rx.Gref))

	var rxr RxResponse
	require.EqualValues(t, 8, unsafe.Sizeof(rxr), "sizeof(struct netif_rx_response)")
	require.EqualValues(t, 0, unsafe.Offsetof(rxr.ID))
	require.EqualValues(t, 2, unsafe.Offsetof(rxr.Offset))
	require.EqualValues(t, 4, unsafe.Offsetof(rxr.Flags))
	require.EqualValues(t, 6, unsafe.Offsetof(rxr.Status))

	var e ExtraInfo
	require.EqualValues(t, 8, unsafe.Sizeof(e), "sizeof(struct netif_extra_info)")
	require.EqualValues(t, 0, unsafe.Offsetof(e.Type))
	require.EqualValues(t, 1, unsafe.Offsetof(e.Flags))
	require.EqualValues(t, 2, unsafe.Offsetof(e.U))

	// u.gso: size u16 @2, type u8 @4, pad u8 @5, features u16 @6 of the slot.
	g := GSOExtra(1448, GSOTypeTCPv6)
	raw := (*[8]byte)(unsafe.Pointer(&g))
	require.Equal(t, [8]byte{ExtraTypeGSO, 0, 0xa8, 0x05, GSOTypeTCPv6, 0, 0, 0}, *raw)
	req := TxRequestFromExtra(g)
	require.Equal(t, g, TxExtra(&req))
	rsp := RxResponseFromExtra(g)
	require.Equal(t, g, RxExtra(&rsp))
	mss, typ := g.GSO()
	require.EqualValues(t, 1448, mss)
	require.EqualValues(t, GSOTypeTCPv6, typ)
}

func TestRingLayout(t *testing.T) {
	var h ringHeader
	require.EqualValues(t, RingHeaderSize, unsafe.Sizeof(h), "sizeof the sring header (ring[] offset)")
	require.EqualValues(t, 0, unsafe.Offsetof(h.reqProd))
	require.EqualValues(t, 4, unsafe.Offsetof(h.reqEvent))
	require.EqualValues(t, 8, unsafe.Offsetof(h.rspProd))
	require.EqualValues(t, 12, unsafe.Offsetof(h.rspEvent))
	require.EqualValues(t, 16, unsafe.Offsetof(h.pvt))

	// NET_TX_RING_SIZE and NET_RX_RING_SIZE on a 4 KiB page; the optional control ring's
	// 16-byte slots give 128.
	require.EqualValues(t, NetTxRingSize, RingSize(unsafe.Sizeof(TxRequest{})))
	require.EqualValues(t, NetRxRingSize, RingSize(unsafe.Sizeof(RxResponse{})))
	require.EqualValues(t, 128, RingSize(16))

	page := make([]byte, PageSize)
	InitSharedRing(page)
	r, err := NewFrontRing[TxRequest, TxResponse](page)
	require.NoError(t, err)
	require.EqualValues(t, 256, r.Size())
	r.PutRequest(&TxRequest{Gref: 0x01020304, Offset: 0x0506, Flags: 0x0708, ID: 0x090a, Size: 0x0b0c})
	require.Equal(t, []byte{4, 3, 2, 1, 6, 5, 8, 7, 0xa, 9, 0xc, 0xb}, page[64:76], "slot 0 at offset 64")
	require.True(t, r.Push(), "first push notifies: req_event starts at 1")
	require.Equal(t, []byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, page[0:16], "req_prod, req_event, rsp_prod, rsp_event")
	_, err = NewFrontRing[TxRequest, TxResponse](page[:100])
	require.Error(t, err)
}

func TestXenstoreLayout(t *testing.T) {
	// struct xenstore_domain_interface
	require.Equal(t, 0, xsReqOffset)
	require.Equal(t, 1024, xsRspOffset)
	require.Equal(t, 1024, XsRingSize)
	require.Equal(t, 2048, xsReqConsOffset)
	require.Equal(t, 2052, xsReqProdOffset)
	require.Equal(t, 2056, xsRspConsOffset)
	require.Equal(t, 2060, xsRspProdOffset)
	require.Equal(t, 2064, xsServerFeatOffset)
	require.Equal(t, 2068, xsConnectionOffset)
	require.Equal(t, 2072, xsErrorOffset)
	require.Equal(t, 2076, xsDomainInterfaceSz)
	// struct xsd_sockmsg: type, req_id, tx_id, len.
	msg, err := AppendXsMessage(nil, XsHeader{Type: XsRead, ReqID: 0x11223344, TxID: 7}, []byte("a\x00"))
	require.NoError(t, err)
	require.Equal(t, []byte{2, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 7, 0, 0, 0, 2, 0, 0, 0, 'a', 0}, msg)
	require.EqualValues(t, 16, XsHeaderLen)
	require.EqualValues(t, 4096, XsPayloadMax)
}

// TestRingIndexWrap checks free-running indices across the 2^32 wrap, and the overflow check.
func TestRingIndexWrap(t *testing.T) {
	page := make([]byte, PageSize)
	InitSharedRing(page)
	f, err := NewFrontRing[RxRequest, RxResponse](page)
	require.NoError(t, err)
	b, err := NewBackRing[RxRequest, RxResponse](page)
	require.NoError(t, err)
	start := uint32(0xFFFFFFF0)
	f.ReqProdPvt, f.RspCons, b.ReqCons, b.RspProdPvt = start, start, start, start
	for i := range 40 {
		f.PutRequest(&RxRequest{ID: uint16(i), Gref: GrantRef(i)})
	}
	f.Push()
	rp, err := b.Produced()
	require.NoError(t, err)
	require.Equal(t, start+40, rp)
	for b.ReqCons != rp {
		req := b.Request(b.ReqCons)
		b.ReqCons++
		b.PutResponse(&RxResponse{ID: req.ID, Status: int16(req.Gref)})
	}
	b.Push()
	got, err := f.Produced()
	require.NoError(t, err)
	require.Equal(t, start+40, got)
	for i := range 40 {
		require.EqualValues(t, i, f.Response(start+uint32(i)).Status)
	}
	f.RspCons = got
	require.False(t, f.FinalCheck())
	// A producer claiming responses nobody asked for.
	b.SetResponseProducer(got + 5)
	_, err = f.Produced()
	require.ErrorIs(t, err, ErrRingOverflow)
}

func TestRingAllocs(t *testing.T) {
	page := make([]byte, PageSize)
	InitSharedRing(page)
	f, _ := NewFrontRing[TxRequest, TxResponse](page)
	b, _ := NewBackRing[TxRequest, TxResponse](page)
	n := testing.AllocsPerRun(1000, func() {
		f.PutRequest(&TxRequest{ID: 1})
		f.Push()
		rp, _ := b.Produced()
		for b.ReqCons != rp {
			r := b.Request(b.ReqCons)
			b.ReqCons++
			b.PutResponse(&TxResponse{ID: r.ID})
		}
		b.Push()
		p, _ := f.Produced()
		f.RspCons = p
		f.FinalCheck()
		b.FinalCheck()
	})
	require.Zero(t, n)
}
