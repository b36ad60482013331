//go:build linux

package soak

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// series returns samples one second apart with the given resident memory (MiB) and goroutines.
func series(rss []int64, goroutines []uint64) []Sample {
	s := make([]Sample, len(rss))
	for i := range rss {
		s[i] = Sample{T: float64(i), RSS: rss[i] << 20, Goroutines: goroutines[i]}
	}
	return s
}

func TestJudgeSteady(t *testing.T) {
	f, err := Judge(series([]int64{40, 50, 51, 50, 52, 51, 50, 51}, []uint64{90, 120, 121, 120, 122, 120, 121, 120}), 2)
	require.NoError(t, err)
	assert.Equal(t, 6, f.Samples)
	assert.True(t, f.Flat, "%s", f)
	assert.True(t, f.FloorFlat, "%s", f)
}

// Moments a loaded machine stretches (goroutines of timers piling up, a late collection) lift
// the medians and means of a few samples, not their floors.
func TestJudgeSpikesLiftNoFloor(t *testing.T) {
	f, err := Judge(series([]int64{50, 50, 51, 50, 50, 75, 74, 51}, []uint64{120, 121, 120, 122, 170, 168, 121, 166}), 2)
	require.NoError(t, err)
	assert.False(t, f.Flat, "%s", f)
	assert.True(t, f.FloorFlat, "%s", f)
	assert.Equal(t, int64(50<<20), f.RSSFirstMin)
	assert.Equal(t, uint64(121), f.GoroutinesSecondMin)
}

// A leak raises every sample, the floors with them.
func TestJudgeLeakRaisesFloor(t *testing.T) {
	for name, s := range map[string][]Sample{
		"memory":     series([]int64{50, 50, 52, 54, 62, 64, 66, 68}, []uint64{120, 120, 120, 120, 120, 120, 120, 120}),
		"goroutines": series([]int64{50, 50, 50, 50, 50, 50, 50, 50}, []uint64{120, 125, 130, 135, 160, 165, 170, 175}),
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Judge(s, 2)
			require.NoError(t, err)
			assert.False(t, f.Flat, "%s", f)
			assert.False(t, f.FloorFlat, "%s", f)
		})
	}
}

func TestJudgeTooFewSamples(t *testing.T) {
	_, err := Judge(series([]int64{50, 50, 50, 50}, []uint64{1, 1, 1, 1}), 2)
	assert.Error(t, err)
}

func TestSettled(t *testing.T) {
	base := Sample{RSS: 30 << 20, Goroutines: 22}
	assert.True(t, settled(Sample{RSS: base.RSS + returnSlack(100), Goroutines: 22 + settledGoroutines}, base, 100))
	assert.False(t, settled(Sample{RSS: base.RSS, Goroutines: 22, Conns: 1}, base, 100), "a connection left")
	assert.False(t, settled(Sample{RSS: base.RSS, Goroutines: 23 + settledGoroutines}, base, 100), "goroutines left")
	assert.False(t, settled(Sample{RSS: base.RSS + returnSlack(100) + 1, Goroutines: 22}, base, 100), "memory kept")
}
