package virtio_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
	"github.com/unikit/unikit/virtio"
	"github.com/unikit/unikit/virtio/virtiotest"
)

// conformancePipeDepth is the receive buffers of the pipe end the suite's b is: small, so
// that back-pressure reaches the driver after few frames.
const conformancePipeDepth = 32

// TestConformance runs the frame contract's conformance suite over the virtio-net driver
// against the in-process device model, with split and packed rings, through the virtio-mmio
// and virtio-pci transports, with and without offloads. The model's wire is one end of a
// pipe; the suite's b is the pipe's other end.
//
// The options are what the driver documents: a frame longer than MTU+14 (or a GSO frame
// beyond the TSO buffer) is dropped and counted, not refused; Transmit blocks while every
// transmit buffer is in flight, and the model forwards to the pipe, whose Transmit blocks
// while b's buffers are full. What a's Transmit has taken and b's receiver not given back is
// therefore bounded by the driver's transmit buffers (the queue size, or 64 with TSO) plus
// the pipe's depth.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport virtiotest.TransportKind
		packed    bool
		pipe      pipe.Config
		driver    *virtio.NetConfig
		txSlots   int
	}{
		{"mmio/split/offloads", virtiotest.TransportMMIO, false, pipe.Config{Features: stacktest.Offloads}, nil, 64},
		{"mmio/packed/offloads", virtiotest.TransportMMIO, true, pipe.Config{Features: stacktest.Offloads}, nil, 64},
		{"pci/split/offloads", virtiotest.TransportPCI, false, pipe.Config{Features: stacktest.Offloads}, nil, 64},
		{"pci/packed/offloads", virtiotest.TransportPCI, true, pipe.Config{Features: stacktest.Offloads}, nil, 64},
		// Without offloads, at a jumbo MTU, with rings small enough to wrap many times.
		{"mmio/split/plain-small", virtiotest.TransportMMIO, false, pipe.Config{MTU: 9000},
			&virtio.NetConfig{QueueSize: 16}, 16},
		{"pci/packed/plain-small", virtiotest.TransportPCI, true, pipe.Config{MTU: 9000},
			&virtio.NetConfig{QueueSize: 16}, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
				pc := tc.pipe
				pc.QueueDepth = conformancePipeDepth
				backend, b, err := pipe.New(&pc)
				require.NoError(t, err)
				l, err := virtiotest.NewLoopback(backend, &virtiotest.LoopbackConfig{Transport: tc.transport,
					Device: &virtiotest.NetConfig{Packed: tc.packed}, Driver: tc.driver})
				require.NoError(t, err)
				require.Equal(t, tc.packed, l.NegotiatedFeatures()&virtio.FeatureRingPacked != 0, "packed rings")
				return l, b
			}, &linktest.Options{DropsOversize: true, InFlight: tc.txSlots + conformancePipeDepth})
		})
	}
}
