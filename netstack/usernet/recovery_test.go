package usernet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// stallLink is one end of the user-mode network's link whose deliveries stop for pause after
// every every-th batch, as they do when the process that runs both stacks is descheduled or
// busy with other connections: the sender's ACKs then arrive many microsecond round trips
// late, all at once.
type stallLink struct {
	*pipe.Link
	every int
	pause time.Duration
}

// Start implements link.Link, stalling r's deliveries.
func (l *stallLink) Start(r link.Receiver) error {
	return l.Link.Start(&stallReceiver{Receiver: r, every: l.every, pause: l.pause})
}

type stallReceiver struct {
	link.Receiver
	every, n int
	pause    time.Duration
}

func (r *stallReceiver) DeliverFrames(frames []link.Frame) {
	if r.n++; r.n%r.every == 0 {
		time.Sleep(r.pause)
	}
	r.Receiver.DeliverFrames(frames)
}

// TestNoSpuriousRetransmitsWhenACKsStall sends 32 MiB across the user-mode network's link
// (TSO, the same queue depth) to a stack whose ACKs the sender receives in stalls of 2 ms, and
// counts the sender's retransmissions: the link loses nothing, so each is spurious. With
// netstack's loss recovery there are none. With gVisor's default, RACK with its tail loss
// probe, the probe fires after twice the microsecond smoothed RTT at every stall and RACK then
// takes the late ACKs for the probe's and declares the window lost (netstack/upstream/rack-tlp-processor.md);
// the subtest logs how many, and fails once gVisor no longer retransmits there, when netstack
// may turn RACK on again.
func TestNoSpuriousRetransmitsWhenACKsStall(t *testing.T) {
	if testing.Short() {
		t.Skip("32 MiB transfers with stalls")
	}
	for _, tc := range []struct {
		name string
		rack bool
	}{{"netstack", false}, {"gvisor-rack", true}} {
		t.Run(tc.name, func(t *testing.T) {
			// Whether a stall lands where the probe fires is a matter of timing: RACK's
			// transfer is tried up to five times and must retransmit in one of them; ours
			// must never.
			attempts := 1
			if tc.rack {
				attempts = 5
			}
			var retransmits uint64
			for range attempts {
				retransmits = transferWithStalls(t, tc.rack)
				if retransmits > 0 {
					break
				}
			}
			if tc.rack {
				require.NotZero(t, retransmits, "gVisor's RACK no longer retransmits spuriously here: see netstack/upstream/rack-tlp-processor.md")
			} else {
				require.Zero(t, retransmits)
			}
		})
	}
}

// transferWithStalls sends 32 MiB through a fresh pair of stacks whose sender's ACKs stall,
// with gVisor's RACK if rack is set, and returns how many segments the sender retransmitted.
func transferWithStalls(t *testing.T, rack bool) uint64 {
	gw, guest, err := newLinkPair(&Config{MTU: 1500})
	require.NoError(t, err)
	sender, receiver := stacktest.Pair(t, &stallLink{Link: gw, every: 16, pause: 2 * time.Millisecond}, guest)
	if rack {
		o := tcpip.TCPRecovery(tcpip.TCPRACKLossDetection)
		require.Nil(t, sender.TCPIP().SetTransportProtocolOption(tcp.ProtocolNumber, &o))
	}
	stacktest.Transfer(t, sender, receiver, "10.0.0.2:5001", 32<<20, nil)
	retransmits := sender.Stats().TCP.Retransmits
	t.Logf("%d segments sent, %d retransmitted", sender.Stats().TCP.Sent, retransmits)
	return retransmits
}

var _ link.Link = (*stallLink)(nil)
