package virtio_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
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
			defer ln.Close()
			type result struct {
				sum [32]byte
				n   int64
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				defer c.Close()
				h := sha256.New()
				n, err := io.Copy(h, c)
				var r result
				r.n, r.err = n, err
				copy(r.sum[:], h.Sum(nil))
				done <- r
			}()
			dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer dcancel()
			c, err := s.Dial(dctx, "tcp", "10.77.0.1:5001")
			require.NoError(t, err)
			const size = 32 << 20
			h := sha256.New()
			start := time.Now()
			_, err = io.Copy(io.MultiWriter(c, h), io.LimitReader(rand.NewChaCha8([32]byte{5}), size))
			require.NoError(t, err)
			require.NoError(t, c.Close())
			var r result
			select {
			case r = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("kernel side did not finish")
			}
			el := time.Since(start)
			require.NoError(t, r.err)
			require.Equal(t, int64(size), r.n)
			require.Equal(t, [32]byte(h.Sum(nil)), r.sum)
			t.Logf("%s: 32 MiB from the stack to the kernel through vhost-user + testpmd + TAP in %v (%.2f Gbit/s); link features %v, stats %+v",
				tc.name, el.Round(time.Millisecond), float64(size)*8/el.Seconds()/1e9, v.Features(), v.Stats())
			require.NoError(t, v.Err())
		})
	}
}
