package ring_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/xenfront"
	"github.com/unikit/unikit/xenfront/netif"
	"github.com/unikit/unikit/xenfront/ring"
)

// The ring is checked with the netif protocol's slot types, whose layouts netif pins.

func TestRingLayout(t *testing.T) {
	// NET_TX_RING_SIZE and NET_RX_RING_SIZE on a 4 KiB page; the optional control ring's
	// 16-byte slots give 128.
	require.EqualValues(t, netif.TxRingSize, ring.Size(unsafe.Sizeof(netif.TxRequest{})))
	require.EqualValues(t, netif.RxRingSize, ring.Size(unsafe.Sizeof(netif.RxResponse{})))
	require.EqualValues(t, 128, ring.Size(16))

	page := make([]byte, xenfront.PageSize)
	ring.Init(page)
	r, err := ring.NewFront[netif.TxRequest, netif.TxResponse](page)
	require.NoError(t, err)
	require.EqualValues(t, 256, r.Size())
	r.PutRequest(&netif.TxRequest{Gref: 0x01020304, Offset: 0x0506, Flags: 0x0708, ID: 0x090a, Size: 0x0b0c})
	require.Equal(t, []byte{4, 3, 2, 1, 6, 5, 8, 7, 0xa, 9, 0xc, 0xb}, page[64:76], "slot 0 at offset 64")
	require.True(t, r.Push(), "first push notifies: req_event starts at 1")
	require.Equal(t, []byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, page[0:16], "req_prod, req_event, rsp_prod, rsp_event")
	_, err = ring.NewFront[netif.TxRequest, netif.TxResponse](page[:100])
	require.Error(t, err)
}

// TestRingIndexWrap checks free-running indices across the 2^32 wrap, and the overflow check.
func TestRingIndexWrap(t *testing.T) {
	page := make([]byte, xenfront.PageSize)
	ring.Init(page)
	f, err := ring.NewFront[netif.RxRequest, netif.RxResponse](page)
	require.NoError(t, err)
	b, err := ring.NewBack[netif.RxRequest, netif.RxResponse](page)
	require.NoError(t, err)
	start := uint32(0xFFFFFFF0)
	f.ReqProdPvt, f.RspCons, b.ReqCons, b.RspProdPvt = start, start, start, start
	for i := range 40 {
		f.PutRequest(&netif.RxRequest{ID: uint16(i), Gref: xenfront.GrantRef(i)})
	}
	f.Push()
	rp, err := b.Produced()
	require.NoError(t, err)
	require.Equal(t, start+40, rp)
	for b.ReqCons != rp {
		req := b.Request(b.ReqCons)
		b.ReqCons++
		b.PutResponse(&netif.RxResponse{ID: req.ID, Status: int16(req.Gref)})
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
	require.ErrorIs(t, err, ring.ErrOverflow)
}

func TestRingAllocs(t *testing.T) {
	page := make([]byte, xenfront.PageSize)
	ring.Init(page)
	f, _ := ring.NewFront[netif.TxRequest, netif.TxResponse](page)
	b, _ := ring.NewBack[netif.TxRequest, netif.TxResponse](page)
	n := allocs.Measure(1000, 0, func() {
		f.PutRequest(&netif.TxRequest{ID: 1})
		f.Push()
		rp, _ := b.Produced()
		for b.ReqCons != rp {
			r := b.Request(b.ReqCons)
			b.ReqCons++
			b.PutResponse(&netif.TxResponse{ID: r.ID})
		}
		b.Push()
		p, _ := f.Produced()
		f.RspCons = p
		f.FinalCheck()
		b.FinalCheck()
	})
	require.Zero(t, n.Mallocs, "request and response through the ring: %v", n)
}
