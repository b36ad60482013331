package observe_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/observe"
)

// TestGraphKnownCapture draws the time-sequence graph of a capture of a 128 KiB transfer over
// a lossy link (testdata/retransmit.pcap, taken on the sender's side with the ring of recent
// frames) and checks that it shows the retransmissions tshark finds in it, as red bars.
func TestGraphKnownCapture(t *testing.T) {
	f, err := os.Open("testdata/retransmit.pcap")
	require.NoError(t, err)
	defer f.Close()
	segs, err := observe.ReadSegments(f)
	require.NoError(t, err)
	fl, ok := observe.Busiest(segs)
	require.True(t, ok)
	require.Equal(t, "10.0.0.1", fl.From.Addr().String())
	require.Equal(t, uint16(7000), fl.To.Port())
	var svg strings.Builder
	st, err := observe.WriteGraph(&svg, segs, fl)
	require.NoError(t, err)
	require.Positive(t, st.Retransmits)
	require.Equal(t, st.Retransmits, strings.Count(svg.String(), `class="retx"`))
	require.Equal(t, st.Segments-st.Retransmits, strings.Count(svg.String(), `class="seg"`))
	require.Contains(t, svg.String(), `<polyline class="ack"`)
	require.Contains(t, svg.String(), `<polyline class="win"`)

	_, err = observe.WriteGraph(&svg, segs, observe.Flow{From: fl.To, To: fl.From})
	require.NoError(t, err, "the other direction, ACKs only")

	// On the sender's side nothing is reordered: what tshark calls out-of-order there (a range
	// sent again within its guess of an RTT) is a retransmission too.
	tshark := peers.Program(t, "tshark", "tshark")
	out, err := exec.Command(tshark, "-r", "testdata/retransmit.pcap", "-Y",
		"tcp.len > 0 && (tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.out_of_order)",
		"-T", "fields", "-e", "frame.number").Output()
	require.NoError(t, err)
	require.Equal(t, strings.Count(string(out), "\n"), st.Retransmits, "tshark's retransmissions: %s", out)
}
