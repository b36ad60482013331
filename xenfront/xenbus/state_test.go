package xenbus_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/xenfront/xenbus"
	"github.com/unikit/unikit/xenfront/xenstore"
	"github.com/unikit/unikit/xenfront/xentest"
)

// TestParseState checks that state values from the other end are parsed strictly.
func TestParseState(t *testing.T) {
	for v, want := range map[string]xenbus.State{"0": xenbus.StateUnknown, "2": xenbus.StateInitWait,
		"4": xenbus.StateConnected, "8": xenbus.StateReconfigured, "04": xenbus.StateConnected} {
		s, err := xenbus.ParseState(v)
		require.NoError(t, err, v)
		require.Equal(t, want, s, v)
	}
	for _, v := range []string{"", "9", "-1", " 4", "4 ", "0x4", "Connected", "99999999999999999999"} {
		s, err := xenbus.ParseState(v)
		require.ErrorIs(t, err, xenstore.ErrBadValue, "%q", v)
		require.Equal(t, xenbus.StateUnknown, s, "%q", v)
	}
	require.Equal(t, "InitWait", xenbus.StateInitWait.String())
	require.Equal(t, "XenbusState(9)", xenbus.State(9).String())
}

// TestReadWriteState checks the state key helpers against the simulated xenstore: missing and
// malformed keys read as StateUnknown.
func TestReadWriteState(t *testing.T) {
	st := xentest.New().Domain(1).Store()
	require.Equal(t, xenbus.StateUnknown, xenbus.ReadState(st, "device/vif/0/state"))
	require.NoError(t, xenbus.WriteState(st, "device/vif/0/state", xenbus.StateInitialising))
	v, err := st.Read(0, "device/vif/0/state")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	require.Equal(t, xenbus.StateInitialising, xenbus.ReadState(st, "device/vif/0/state"))
	require.NoError(t, st.Write(0, "device/vif/0/state", "connected"))
	require.Equal(t, xenbus.StateUnknown, xenbus.ReadState(st, "device/vif/0/state"))
}
