package tap

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// bridgeQueueLen is the kernel's transmit queue of each TAP device in a bridged pair, in
// frames: what the kernel holds for a link's reader before it drops. The conformance suite's
// bursts (a few hundred frames) fit; its back-pressure check overflows it on purpose.
const bridgeQueueLen = 2048

// bridgedPair opens two TAP links and joins the kernel's sides of their devices with a
// bridge, in a namespace of their own: a frame one link transmits enters the kernel on its
// device and leaves through the other's, to the other link. IPv6 is off in the namespace, so
// the kernel sends nothing of its own.
func bridgedPair(t *testing.T, cfg *Config) (a, b *Link) {
	t.Helper()
	peers.Root(t)
	ns := netns.New(t)
	ns.Exec(t, "sh", "-c", "echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 && echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6")
	br := netns.UniqueName("ukbr")
	ns.IP(t, "link", "add", br, "type", "bridge")
	var links []*Link
	for range 2 {
		l, err := Open(netns.UniqueName("uktap"), cfg)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		ns.MoveLink(t, l.Name())
		ns.IP(t, "link", "set", l.Name(), "txqueuelen", strconv.Itoa(bridgeQueueLen), "master", br)
		ns.LinkUp(t, l.Name())
		links = append(links, l)
	}
	ns.LinkUp(t, br)
	return links[0], links[1]
}

// TestConformance runs the frame contract's conformance suite over two TAP links joined by a
// kernel bridge, with offloads and without.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"Offloads", Config{}},
		{"NoOffload", Config{NoOffload: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
				a, b := bridgedPair(t, &tc.cfg)
				return a, b
			}, &linktest.Options{
				// Transmit takes a VLAN tag's worth beyond the MTU and drops longer frames.
				MaxFrameLen:   defaultMTU + link.EthernetHeaderLen + vlanHeaderLen,
				DropsOversize: true,
				// The kernel drops what the peer's queue cannot hold: the queue, plus one
				// batch in the stalled receiver.
				BackPressure: linktest.BackPressureDrop,
				InFlight:     bridgeQueueLen + defaultBatch,
			})
		})
	}
}
