package virtio_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/virtio"
)

// BenchmarkVhostUserBulk measures bulk TCP between two stacks, each behind its own virtio
// driver, through DPDK's vhost-user backend: testpmd forwards (io mode, on CPU 1) between its
// two vhost-user ports, like a virtual switch between two guests. With tso=1 the drivers
// negotiate HOST_TSO and GUEST_TSO and testpmd's vhost library passes each 64 KiB segment
// from one guest to the other whole (legacy-ol-flags=1 keeps the GSO request on the mbuf
// between its dequeue and its enqueue): the TSO path end to end. mtu1500 turns the offloads
// off. Run it pinned to CPU 0 (taskset -c 0): both stacks then share one core, as the
// stack and the kernel share the two cores in BenchmarkTAPBulk. testpmd's own drops (when a
// guest's receive ring is full: io forwarding has no back-pressure) are logged.
func BenchmarkVhostUserBulk(b *testing.B) {
	for _, bc := range []struct {
		name  string
		devar string
		cfg   *virtio.NetConfig
	}{
		{"tso", ",tso=1,legacy-ol-flags=1", nil},
		// The rings the driver used before DefaultNetGSOQueueSize: far slower, and erratic.
		{"tso-q256", ",tso=1,legacy-ol-flags=1", &virtio.NetConfig{QueueSize: 256}},
		{"mtu1500", "", &virtio.NetConfig{Features: virtio.NetFMAC | virtio.NetFMrgRxbuf | virtio.FeatureEventIdx}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pmd := dpdk.Start(b, &dpdk.Options{Pair: true, VhostArgs: bc.devar, Mbufs: 32768})
			var links [2]*virtio.VhostUser
			for i, sock := range []string{pmd.Socket, pmd.Socket2} {
				v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{Net: bc.cfg})
				require.NoError(b, err)
				b.Cleanup(func() { v.Close() })
				links[i] = v
			}
			s1, s2 := stacktest.Pair(b, links[0], links[1])
			ln, err := s2.Listen("tcp", ":5001")
			require.NoError(b, err)
			defer ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			src, err := s1.Dial(ctx, "tcp", "10.0.0.2:5001")
			require.NoError(b, err)
			defer src.Close()
			dst, err := ln.Accept()
			require.NoError(b, err)
			defer dst.Close()
			stacktest.RunBulk(b, src, dst)

			st := links[0].Stats()
			if st.TxFrames > 0 {
				b.ReportMetric(float64(st.TxBytes)/float64(st.TxFrames), "tx-B/frame")
			}
			b.ReportMetric(float64(s1.Stats().TCP.Retransmits)/float64(b.N), "retransmits/MiB")
			b.Logf("links: %+v / %+v", st, links[1].Stats())
			out := pmd.Stop()
			if i := strings.Index(out, "Accumulated forward statistics"); i >= 0 {
				b.Logf("testpmd: %s", out[i:min(len(out), i+400)])
			}
			require.NoError(b, links[0].Err())
			require.NoError(b, links[1].Err())
		})
	}
}
