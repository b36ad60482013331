package observe_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/unikit/unikit/observe"
)

// FuzzReadSegments feeds ReadSegments and WriteGraph arbitrary captures: they must return
// an error or segments, never panic.
func FuzzReadSegments(f *testing.F) {
	if b, err := os.ReadFile("testdata/retransmit.pcap"); err == nil {
		f.Add(b)
	}
	f.Add(fileHeader())
	f.Add(append(fileHeader(), record(1, 54)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		segs, _ := observe.ReadSegments(bytes.NewReader(b))
		if fl, ok := observe.Busiest(segs); ok {
			observe.WriteGraph(io.Discard, segs, fl)
		}
	})
}
