package usernet

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// TestConformance runs the frame contract's conformance suite over the link a Network gives
// its guest, built as New builds it, with offloads and without; the guest's end is the one
// under test. The gateway stack is left out, so that the suite sees every frame.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"Offloads", Config{}},
		{"NoOffload", Config{NoOffload: true, MTU: 9000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
				c, err := tc.cfg.withDefaults()
				require.NoError(t, err)
				gw, guest, err := newLinkPair(&c)
				require.NoError(t, err)
				return guest, gw
			}, &linktest.Options{InFlight: linkQueueDepth})
		})
	}
}

// TestLinkLifecycle checks the contract's Start and Close rules on the link a running Network
// hands out: a nil receiver and a second Start are refused, and the Network's Close closes it.
func TestLinkLifecycle(t *testing.T) {
	n, err := New(&Config{DNSUpstream: []netip.AddrPort{}})
	require.NoError(t, err)
	l := n.Link()
	require.ErrorIs(t, l.Start(nil), link.ErrNilReceiver)
	r := linktest.NewRecorder(l, nil)
	require.NoError(t, l.Start(r))
	require.ErrorIs(t, l.Start(r), link.ErrStarted)
	require.True(t, l.Up())
	require.NoError(t, n.Close())
	require.False(t, l.Up())
	_, err = l.Transmit([]link.Frame{{Segments: [][]byte{linktest.NumberedFrame(l.MAC(), l.MAC(), 1, 60)}}})
	require.ErrorIs(t, err, link.ErrClosed)
	require.ErrorIs(t, l.Start(r), link.ErrClosed)
	r.Check(t)
}
