package linktest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// reflector sends every frame its link receives back out of the same link.
type reflector struct{ l link.Link }

func (r reflector) DeliverFrames(frames []link.Frame) {
	r.l.Transmit(frames) // copies them; an error means the pipe is closing and they are lost
	r.l.Release(frames)
}

func (reflector) LinkStateChanged(bool) {}

// TestRunLoopback runs the suite in loopback mode: one end of a pipe whose other end sends
// back whatever it receives, as a device in loopback mode would.
func TestRunLoopback(t *testing.T) {
	const depth = 32
	linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
		a, mirror, err := pipe.New(&pipe.Config{QueueDepth: depth,
			Features: link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6 | link.FeatureRxCsum | link.FeatureRxGRO})
		require.NoError(t, err)
		require.NoError(t, mirror.Start(reflector{mirror}))
		t.Cleanup(func() { mirror.Close() })
		return a, nil
	}, &linktest.Options{InFlight: 2 * depth}) // both ends' buffers
}
