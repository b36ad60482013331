package pipe

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// TestConformance runs the frame contract's conformance suite over pipes with and without
// offloads, with a small queue and with impairments that never happen, which make the pipe
// cut TSO super-frames into segments as a wire would.
func TestConformance(t *testing.T) {
	all := link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6 | link.FeatureRxCsum | link.FeatureRxGRO
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"Plain", Config{}},
		{"Offloads", Config{Features: all}},
		{"TxCsumOnly", Config{Features: link.FeatureTxCsum}},
		{"SmallQueue", Config{QueueDepth: 4, BatchSize: 3, MTU: 9000}},
		{"Wire", Config{Features: all, Impair: Impairments{Seed: 1, Loss: 1e-300}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			depth := tc.cfg.QueueDepth
			if depth == 0 {
				depth = DefaultQueueDepth
			}
			// Transmit blocks once every buffer of the peer is queued or lent: the queue
			// depth bounds what is in flight.
			linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
				a, b, err := New(&tc.cfg)
				require.NoError(t, err)
				return a, b
			}, &linktest.Options{InFlight: depth})
		})
	}
}
