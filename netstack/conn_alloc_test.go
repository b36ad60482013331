package netstack

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
)

// memEndpoint is a TCP endpoint reduced to what TCPConn's Read and Write use: Write takes
// everything into sink (wrapping), Read gives src. The other methods of tcpip.Endpoint are
// not implemented (they panic through the nil embedded interface).
type memEndpoint struct {
	tcpip.Endpoint
	connected bool
	sink      []byte
	src       []byte
}

func (e *memEndpoint) Write(p tcpip.Payloader, _ tcpip.WriteOptions) (int64, tcpip.Error) {
	n, err := io.ReadFull(p, e.sink[:p.Len()])
	if err != nil {
		return 0, &tcpip.ErrBadBuffer{}
	}
	return int64(n), nil
}

func (e *memEndpoint) Read(w io.Writer, _ tcpip.ReadOptions) (tcpip.ReadResult, tcpip.Error) {
	n, _ := w.Write(e.src)
	return tcpip.ReadResult{Count: n, Total: n}, nil
}

func (e *memEndpoint) ModerateRecvBuf(int) {}
func (e *memEndpoint) GetLocalAddress() (tcpip.FullAddress, tcpip.Error) {
	return tcpip.FullAddress{}, nil
}
func (e *memEndpoint) GetRemoteAddress() (tcpip.FullAddress, tcpip.Error) {
	if !e.connected {
		return tcpip.FullAddress{}, &tcpip.ErrNotConnected{}
	}
	return tcpip.FullAddress{}, nil
}
func (e *memEndpoint) Close() {}

// TestTCPConnNoAlloc checks that TCPConn's own Read, Write and WriteBuffers allocate nothing,
// with and without deadlines, over an endpoint that allocates nothing itself (the stack's
// share is measured with real stacks by TestTCPConnAllocs).
func TestTCPConnNoAlloc(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	ep := &memEndpoint{connected: true, sink: make([]byte, 4096), src: make([]byte, 1024)}
	c := NewTCPConn(new(waiter.Queue), ep)
	defer c.Close()
	buf := make([]byte, 1024)
	iov := [][]byte{buf[:100], buf[100:]}
	var v net.Buffers
	for _, deadline := range []time.Time{{}, time.Now().Add(time.Hour)} {
		require.NoError(t, c.SetDeadline(deadline))
		var err error
		n := allocs.Measure(1000, 0, func() {
			if _, e := c.Write(buf); e != nil {
				err = e
			}
			v = iov
			if _, e := c.WriteBuffers(&v); e != nil {
				err = e
			}
			if _, e := c.Read(buf); e != nil {
				err = e
			}
		})
		require.NoError(t, err)
		assert.Zero(t, n.Mallocs, "Write, WriteBuffers and Read (deadline %v): %v", deadline, n)
	}
}

// TestUDPConnNoAlloc checks that UDPConn's Read, Write and the netip forms of ReadFrom and
// WriteTo allocate nothing, over an endpoint that allocates nothing itself.
func TestUDPConnNoAlloc(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	ep := &memEndpoint{sink: make([]byte, 4096), src: make([]byte, 512)}
	c := NewUDPConn(new(waiter.Queue), ep)
	defer c.Close()
	buf := make([]byte, 512)
	to := netip.MustParseAddrPort("10.0.0.1:53")
	for _, deadline := range []time.Time{{}, time.Now().Add(time.Hour)} {
		require.NoError(t, c.SetDeadline(deadline))
		var err error
		n := allocs.Measure(1000, 0, func() {
			if _, e := c.WriteToUDPAddrPort(buf, to); e != nil {
				err = e
			}
			if _, _, e := c.ReadFromUDPAddrPort(buf); e != nil {
				err = e
			}
		})
		require.NoError(t, err)
		assert.Zero(t, n.Mallocs, "WriteToUDPAddrPort and ReadFromUDPAddrPort (deadline %v): %v", deadline, n)
	}
}
