package observe_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/observe"
)

// TestLossyLink sends 2 MiB from the observed stack over a pipe that loses 3% of its frames:
// the retransmit counter rises, the connection's own retransmits are reported while it is open,
// and the time-sequence graph of the ring of recent frames (captured on the sender's side of
// the loss) shows as many retransmissions as the stack counted.
//
// The count and the graph are compared once the sender can retransmit no more and the capture
// has written out every frame it took: TransferTo returns when the receiver has read the
// sender's FIN, which the sender may still be waiting to see acknowledged (the ACK is lost 3%
// of the time, or late on a loaded machine), and the capture's writer goroutine may still be
// behind the link.
func TestLossyLink(t *testing.T) {
	r := newRig(t, pipe.Impairments{Loss: 0.03, Seed: 7}, "")
	ln, err := r.client.Listen("tcp", ":7000")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	before := r.get(t, "/metrics")
	stacktest.TransferTo(t, r.server, ln, "10.0.0.2:7000", 2<<20, nil)
	waitAllAcked(t, r.server, "10.0.0.2:7000")
	require.NoError(t, r.capture.Flush())
	after := r.get(t, "/metrics")
	retx := metric(t, after, "unikit_tcp_retransmits_total") - metric(t, before, "unikit_tcp_retransmits_total")
	require.Positive(t, retx, "no retransmission over a lossy link")

	segs, err := observe.ReadSegments(bytes.NewReader(r.get(t, "/debug/netstack/frames.pcap")))
	require.NoError(t, err)
	f, ok := observe.Busiest(segs)
	require.True(t, ok)
	require.Equal(t, "10.0.0.2:7000", f.To.String())
	var svg strings.Builder
	st, err := observe.WriteGraph(&svg, segs, f)
	require.NoError(t, err)
	require.Positive(t, st.Retransmits)
	require.Equal(t, st.Retransmits, strings.Count(svg.String(), `class="retx"`))
	svgHTTP := string(r.get(t, "/debug/netstack/graph?conn="+f.String()))
	require.True(t, strings.HasPrefix(svgHTTP, "<svg "), svgHTTP[:min(len(svgHTTP), 200)])
	require.Contains(t, svgHTTP, `class="retx"`)
	t.Logf("%d segments, %d retransmitted (the stack counted %.0f)", st.Segments, st.Retransmits, retx)
	if st.Segments < observe.DefaultFrames/2 { // the whole transfer is in the ring
		require.Equal(t, int(retx), st.Retransmits)
	}
}

// waitAllAcked waits until the server's connections to remote have had everything they sent
// acknowledged, their FIN included (FIN-WAIT2, TIME-WAIT or closed and gone), so that they
// retransmit nothing more. The RTO backs off from 200 ms after each loss of the FIN or its
// ACK, and a loaded machine delays it further: the deadline leaves room for both.
func waitAllAcked(t *testing.T, s *netstack.Stack, remote string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, conn := range observe.Connections(s) {
			if conn.Remote.String() == remote {
				assert.Contains(c, []string{"FIN-WAIT2", "TIME-WAIT", "CLOSED"}, conn.State,
					"the connection to %s may still retransmit", remote)
			}
		}
	}, 30*time.Second, 5*time.Millisecond)
}

// TestConnections checks /debug/netstack/connections while a connection is open: the
// listener and both ends of the connection with their state, RTT and congestion window, as
// JSON and as HTML.
func TestConnections(t *testing.T) {
	r := newRig(t, pipe.Impairments{Delay: 2 * time.Millisecond}, "")
	ln, err := r.client.Listen("tcp", ":7000")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	c, err := r.server.Dial(t.Context(), "tcp", "10.0.0.2:7000")
	require.NoError(t, err)
	defer c.Close()
	peer, err := ln.Accept()
	require.NoError(t, err)
	defer peer.Close()
	_, err = c.Write(make([]byte, 64<<10))
	require.NoError(t, err)
	_, err = peer.Read(make([]byte, 1))
	require.NoError(t, err)

	var cs []observe.Connection
	require.NoError(t, json.Unmarshal(r.get(t, "/debug/netstack/connections?format=json"), &cs))
	var found *observe.Connection
	for i := range cs {
		if cs[i].Remote.String() == "10.0.0.2:7000" {
			found = &cs[i]
		}
	}
	require.NotNil(t, found, "%+v", cs)
	require.Equal(t, "ESTABLISHED", found.State)
	require.Equal(t, "10.0.0.1", found.Local.Addr().String())
	require.Greater(t, found.RTT, time.Millisecond)
	require.Positive(t, found.Cwnd)
	require.Positive(t, found.SegmentsSent)
	require.Positive(t, found.SendBuffer)
	listening := false
	for _, c := range cs {
		listening = listening || c.State == "LISTEN" && c.Local.Port() == 80
	}
	require.True(t, listening, "%+v", cs)

	page := string(r.get(t, "/debug/netstack/connections"))
	require.Contains(t, page, "<td>10.0.0.2:7000</td><td>ESTABLISHED</td>")
	require.Contains(t, page, "graph?conn=")
}
