package netfront_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/xenfront/xentest"
)

// Sizes behind the conformance options of netfront against the simulated netback.
const (
	// conformancePipeDepth is the receive buffers of the pipe end the suite's b is: small, so
	// that back-pressure reaches netfront after few frames.
	conformancePipeDepth = 32
	// txPages is each queue's TX pages, one per frame of up to a page (see the package doc).
	txPages = 256
	// netbackHeld is the frame the simulated netback holds between answering its requests
	// and handing it to the outer link, whose Transmit blocks while b's buffers are full.
	netbackHeld = 1
	// maxFrameLen is the longest frame netfront carries without GSO: the MTU, the Ethernet
	// header and a VLAN tag.
	maxFrameLen = 1500 + link.EthernetHeaderLen + 4
)

// TestConformance runs the frame contract's conformance suite over netfront against the
// simulated hypervisor and netback, whose outer link is one end of a pipe; the suite's b is
// the pipe's other end. With TSO and GRO and without, over a xenstore ring and the store
// itself, with one queue pair and two.
//
// The options are what netfront documents: a frame it cannot carry is dropped and counted,
// not refused; Transmit blocks while the TX ring is full, and the netback forwards to the
// pipe, whose Transmit blocks while b's buffers are full. What a's Transmit has taken and b's
// receiver not given back is therefore bounded by the TX pages of each queue, the frame the
// netback holds and the pipe's depth. Deliveries from several queues are serialised.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		pipe pipe.Config
		lb   xentest.LoopbackConfig
	}{
		{"gso", pipe.Config{Features: stacktest.Offloads}, xentest.LoopbackConfig{}},
		{"no-gso", pipe.Config{}, xentest.LoopbackConfig{NoGSO: true, DirectStore: true}},
		{"multiqueue", pipe.Config{Features: stacktest.Offloads}, xentest.LoopbackConfig{Queues: 2, DirectStore: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			queues := max(1, tc.lb.Queues)
			linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
				pc := tc.pipe
				pc.QueueDepth = conformancePipeDepth
				backend, b, err := pipe.New(&pc)
				require.NoError(t, err)
				lb, err := xentest.OpenLoopback(backend, quiet(&tc.lb))
				require.NoError(t, err)
				return lb, b
			}, &linktest.Options{MaxFrameLen: maxFrameLen, DropsOversize: true,
				InFlight: queues*(txPages+netbackHeld) + conformancePipeDepth})
		})
	}
}
