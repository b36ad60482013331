package virtio_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/virtio"
)

// TestVhostUserKernelTCP carries TCP between a stack behind the vhost-user driver and the
// Linux kernel: testpmd (io forwarding) bridges its vhost-user port to a TAP port (DPDK's
// net_tap) in a network namespace the test creates, where a kernel socket receives 32 MiB and
// the digest is checked.
func TestVhostUserKernelTCP(t *testing.T) {
	peers.Root(t)
	for _, tc := range []struct {
		name string
		cfg  *virtio.NetConfig
	}{
		{"offloads", nil},
		{"no-offloads", &virtio.NetConfig{Features: virtio.NetFMAC | virtio.NetFMrgRxbuf | virtio.FeatureEventIdx}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := netns.New(t)
			tap := netns.UniqueName("vht")
			pmd := dpdk.Start(t, &dpdk.Options{NS: ns, TAP: tap, Mbufs: 16384})
			sock := pmd.Socket
			ns.AddAddr(t, tap, netip.MustParsePrefix("10.77.0.1/24"))
			ns.LinkUp(t, tap)

			v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{Net: tc.cfg})
			require.NoError(t, err)
			t.Cleanup(func() { v.Close() })
			s, err := netstack.New(nil)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			_, err = s.AddNIC(v, &netstack.NICConfig{
				Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.2/24")}, NoDHCP: true})
			require.NoError(t, err)

			var ln net.Listener
			require.NoError(t, ns.Do(func() (err error) { ln, err = net.Listen("tcp", "10.77.0.1:5001"); return err }))
			const size = 32 << 20
			el := stacktest.TransferTo(t, s, ln, "10.77.0.1:5001", size, &stacktest.Options{
				Chunk: 32 << 10, Seed: [32]byte{5}, DialTimeout: 20 * time.Second})
			t.Logf("%s: 32 MiB from the stack to the kernel through vhost-user + testpmd + TAP in %v (%.2f Gbit/s); link features %v, stats %+v",
				tc.name, el.Round(time.Millisecond), float64(size)*8/el.Seconds()/1e9, v.Features(), v.Stats())
			require.NoError(t, v.Err())
		})
	}
}
