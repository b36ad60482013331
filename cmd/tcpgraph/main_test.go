package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRun draws the graph of the observe package's known capture with a retransmission.
func TestRun(t *testing.T) {
	var out, errOut bytes.Buffer
	require.NoError(t, run([]string{"../../observe/testdata/retransmit.pcap"}, &out, &errOut))
	require.True(t, strings.HasPrefix(out.String(), "<svg "))
	require.Contains(t, out.String(), `class="retx"`)
	require.Contains(t, errOut.String(), "6 retransmitted")

	out.Reset()
	err := run([]string{"-conn", "10.9.9.9:1-10.9.9.9:2", "../../observe/testdata/retransmit.pcap"}, &out, &errOut)
	require.ErrorContains(t, err, "no such TCP flow")
	require.Error(t, run([]string{"main.go"}, &out, &errOut), "not a capture")
	require.Error(t, run(nil, &out, &errOut))
}
