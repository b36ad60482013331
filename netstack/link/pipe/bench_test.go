package pipe

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// BenchmarkPipeTransmit measures the pipe alone: batches of 32 frames transmitted on one end
// and released by the other end's receiver as they arrive.
func BenchmarkPipeTransmit(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
		cfg  Config
	}{
		{"1514B", 1514, Config{}},
		{"64KiB-GSO", link.MaxGSOSize, Config{Features: link.FeatureTxCsum | link.FeatureTxTSO4 |
			link.FeatureRxCsum | link.FeatureRxGRO}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, p := newPair(b, &bc.cfg)
			rb := linktest.NewCounter(p, nil)
			require.NoError(b, p.Start(rb))
			frames := make([]link.Frame, 32)
			off := link.Offload{}
			if bc.cfg.Features != 0 {
				off = link.Offload{GSOType: link.GSOTCPv4, GSOSize: 1448, HdrLen: 66}
			}
			for i := range frames {
				frames[i] = link.Frame{Segments: [][]byte{testFrame(a.MAC(), p.MAC(), uint32(i), bc.size)}, Offload: off}
			}
			// Warm up: receive buffers are allocated on first use.
			for range 100 {
				if _, err := a.Transmit(frames); err != nil {
					b.Fatal(err)
				}
			}
			require.NoError(b, rb.Wait(100*len(frames)))
			b.SetBytes(int64(len(frames) * bc.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Transmit(frames); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			require.NoError(b, rb.Wait(b.N*len(frames)))
			b.ReportMetric(float64(len(frames)), "frames/op")
		})
	}
}
