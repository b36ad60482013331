package xenstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The numbers below are the sizes and offsets of Xen's io/xs_wire.h (xen/include/public). They
// are the ABI; the Go constants must match them byte for byte.

func TestLayout(t *testing.T) {
	// struct xenstore_domain_interface
	require.Equal(t, 0, reqOffset)
	require.Equal(t, 1024, rspOffset)
	require.Equal(t, 1024, RingSize)
	require.Equal(t, 2048, reqConsOffset)
	require.Equal(t, 2052, reqProdOffset)
	require.Equal(t, 2056, rspConsOffset)
	require.Equal(t, 2060, rspProdOffset)
	require.Equal(t, 2064, serverFeatOffset)
	require.Equal(t, 2068, connectionOffset)
	require.Equal(t, 2072, errorOffset)
	require.Equal(t, 2076, domainInterfaceSize)
	// struct xsd_sockmsg: type, req_id, tx_id, len.
	msg, err := AppendMessage(nil, Header{Type: MsgRead, ReqID: 0x11223344, TxID: 7}, []byte("a\x00"))
	require.NoError(t, err)
	require.Equal(t, []byte{2, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 7, 0, 0, 0, 2, 0, 0, 0, 'a', 0}, msg)
	require.EqualValues(t, 16, HeaderLen)
	require.EqualValues(t, 4096, PayloadMax)
}
