package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNum: figures keep what they say at every scale, down to the exact allocation counts
// of one in a million frames, which a fixed two decimals would show as 0.00.
func TestNum(t *testing.T) {
	for v, want := range map[float64]string{
		0:          "0",
		123456:     "123456",
		412.7:      "413",
		17.34:      "17.3",
		1.876:      "1.88",
		0.0391:     "0.04",
		0.003909:   "0.0039",
		0.0000016:  "0.0000016",
		-0.0000926: "-0.000093",
	} {
		assert.Equal(t, want, num(v), "num(%v)", v)
	}
}
