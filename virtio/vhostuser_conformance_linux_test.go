package virtio_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/virtio"
)

// vhostConformanceQueue is the queue size of both drivers in TestVhostUserConformance: rings
// of 1024 leave a wide margin between what the suite keeps in flight without waiting and what
// the receiving ring holds, so that testpmd, which drops what a full ring cannot take, drops
// nothing where the suite expects every frame, even when a loaded machine deschedules the
// receiver.
const vhostConformanceQueue = 1024

// testpmdBurst is the most frames testpmd holds between its dequeue from one port and its
// enqueue into the other: one burst (packets/burst=32, its default).
const testpmdBurst = 32

// TestVhostUserConformance runs the frame contract's conformance suite over two vhost-user
// drivers joined by DPDK's vhost-user backend: testpmd forwards in io mode between its two
// vhost-user ports, a switch between two guests, so that what a transmits b receives and the
// other way round. Packed and split rings, with and without TSO (testpmd's tso=1, with
// legacy-ol-flags=1 so that its vhost library keeps a frame's offload request between its
// dequeue from one guest and its enqueue into the other).
//
// The options are what the driver and the backend document: a frame longer than MTU+14 is
// dropped and counted, not refused; testpmd's io forwarding has no back-pressure and drops a
// frame the receiving ring has no buffer for (BackPressureDrop), so what arrives of a burst
// while the receiver stalls is bounded by the sender's transmit buffers (queue size, or 64
// with TSO), testpmd's burst and the receiver's ring.
func TestVhostUserConformance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devargs string
		packed  bool
		txSlots int
	}{
		{"packed", ",legacy-ol-flags=1", true, vhostConformanceQueue},
		{"split", ",legacy-ol-flags=1", false, vhostConformanceQueue},
		{"packed-tso", ",tso=1,legacy-ol-flags=1", true, 64},
		{"split-tso", ",tso=1,legacy-ol-flags=1", false, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			features := uint64(virtio.NetSupported)
			if !tc.packed {
				features &^= virtio.FeatureRingPacked
			}
			cfg := &virtio.VhostUserConfig{Net: &virtio.NetConfig{Features: features, QueueSize: vhostConformanceQueue}}
			// One testpmd for the whole run: every pair connects anew to its two ports.
			sw := &vhostSwitch{pmd: dpdk.Start(t, &dpdk.Options{Pair: true, VhostArgs: tc.devargs})}
			linktest.Run(t, func(t *testing.T) (link.Link, link.Link) {
				a, b := sw.join(t, cfg)
				for _, v := range []*virtio.VhostUser{a, b} {
					require.Equal(t, tc.packed, v.NegotiatedFeatures()&virtio.FeatureRingPacked != 0, "packed rings")
				}
				return a, b
			}, &linktest.Options{DropsOversize: true, BackPressure: linktest.BackPressureDrop,
				InFlight: tc.txSlots + testpmdBurst + vhostConformanceQueue})
		})
	}
}

// vhostSwitch is a testpmd forwarding between two vhost-user ports, which one pair of drivers
// after the other joins.
type vhostSwitch struct {
	pmd   *dpdk.Testpmd
	pairs int // pairs that joined so far
}

// join connects a new driver to each port and waits until testpmd forwards to both. The vhost
// library tells testpmd's port that a frontend's device is ready only after it has
// acknowledged the frontend's last set-up message, so DialVhostUser may return before the
// switch forwards to the new port, and testpmd drops what it would send there meanwhile, as a
// switch drops frames for a port that is not up yet. testpmd reports each port's link going
// up when a driver joins and down when it leaves: the pair's drivers are ready once each port
// has reported its link going up once more than all earlier pairs did leave. The drivers are
// closed when t ends, after the suite's own Close.
func (s *vhostSwitch) join(t *testing.T, cfg *virtio.VhostUserConfig) (a, b *virtio.VhostUser) {
	t.Helper()
	var links [2]*virtio.VhostUser
	for i, sock := range []string{s.pmd.Socket, s.pmd.Socket2} {
		v, err := virtio.DialVhostUser(sock, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { v.Close() })
		links[i] = v
	}
	s.pairs++
	events := 2*s.pairs - 1 // up and down for every earlier pair, up for this one
	require.Eventually(t, func() bool {
		out := s.pmd.Output()
		return strings.Count(out, "Port 0: link state change event") >= events &&
			strings.Count(out, "Port 1: link state change event") >= events
	}, linktest.DefaultTimeout, 10*time.Millisecond, "testpmd reports both ports up")
	return links[0], links[1]
}
