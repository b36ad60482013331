package ring

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The numbers below are the sizes and offsets of Xen's io/ring.h (xen/include/public); they are
// the ABI, and the Go header must match them byte for byte.

func TestHeaderLayout(t *testing.T) {
	var h header
	require.EqualValues(t, HeaderSize, unsafe.Sizeof(h), "sizeof the sring header (ring[] offset)")
	require.EqualValues(t, 0, unsafe.Offsetof(h.reqProd))
	require.EqualValues(t, 4, unsafe.Offsetof(h.reqEvent))
	require.EqualValues(t, 8, unsafe.Offsetof(h.rspProd))
	require.EqualValues(t, 12, unsafe.Offsetof(h.rspEvent))
	require.EqualValues(t, 16, unsafe.Offsetof(h.pvt))
}
