package pcap

import (
	"bytes"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// syncBuffer is a bytes.Buffer safe for the capture's writer goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// TestConformance runs the frame contract's conformance suite over a capture wrapping one end
// of a pipe, with and without offloads: capturing must change nothing the contract promises.
// Each capture is parsed at the end, so the suite's traffic also checks the file.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  pipe.Config
	}{
		{"Plain", pipe.Config{}},
		{"Offloads", pipe.Config{Features: link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6 |
			link.FeatureRxCsum | link.FeatureRxGRO}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
				a, b, err := pipe.New(&tc.cfg)
				require.NoError(t, err)
				var w syncBuffer
				c := New(a, &w, nil)
				t.Cleanup(func() {
					c.Close() // the suite closed it already: this waits for nothing
					w.mu.Lock()
					defer w.mu.Unlock()
					_, _, recs := parsePcap(t, w.buf.Bytes())
					require.Equal(t, c.CaptureStats().Frames, uint64(len(recs)), "records in the capture")
				})
				return c, b
			}, &linktest.Options{InFlight: pipe.DefaultQueueDepth})
		})
	}
}
