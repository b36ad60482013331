package pci

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]Addr{
		"0000:00:03.0": {Device: 3},
		"00:01.0":      {Device: 1},
		"ABCD:ff:1F.7": {Domain: 0xabcd, Bus: 0xff, Device: 0x1f, Function: 7},
	} {
		got, err := ParseAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	a, err := ParseAddr("0000:00:03.0")
	require.NoError(t, err)
	assert.Equal(t, "0000:00:03.0", a.String())

	for _, in := range []string{"", "0000:00:03", "0000:00:20.0", "0000:00:03.8", "0000-00:03.0",
		"000g:00:03.0", "../../../x", "0000:00:03.0\n", "+000:00:03.0"} {
		_, err := ParseAddr(in)
		assert.Error(t, err, "%q", in)
	}
}
