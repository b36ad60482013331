package appliance

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReclaimer feeds the reclaimer connection counts: it collects twice, two checks in a row,
// after at least reclaimDrop connections and half the peak have closed, and not otherwise.
func TestReclaimer(t *testing.T) {
	var open uint64
	gcs := 0
	r := &reclaimer{open: func() uint64 { return open }, gc: func() { gcs++ }}
	steps := []struct {
		open uint64
		gcs  int
	}{
		{10, 0}, {100, 0}, {200, 0},
		{150, 0},  // 50 closed: fewer than reclaimDrop
		{101, 0},  // 99 closed, under half the peak
		{99, 1},   // 101 closed, half the peak: collect
		{99, 2},   // and once more
		{99, 2},   // then nothing
		{40, 2},   // 59 closed since the last collection
		{1000, 2}, // a new peak
		{900, 2},
		{0, 3}, {0, 4}, {0, 4},
		{63, 4}, {0, 4}, // fewer than reclaimDrop, even all of them
	}
	for i, s := range steps {
		open = s.open
		r.check()
		require.Equal(t, s.gcs, gcs, "step %d (%d open)", i, s.open)
	}
}
