package virtio_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/virtio"
)

// testpmd starts DPDK's testpmd with a vhost-user backend (net_vhost) listening on a socket in
// a temporary directory, forwarding in macswap mode, and returns the socket path. extra are
// additional net_vhost devargs. testpmd runs without hugepages or PCI devices.
func testpmd(t *testing.T, extra string) string {
	bin := peers.Program(t, "dpdk-testpmd", "dpdk-dev")
	dir := t.TempDir()
	sock := filepath.Join(dir, "vhost.sock")
	stdin, keep, err := os.Pipe() // testpmd exits when stdin closes
	require.NoError(t, err)
	var out bytes.Buffer
	cmd := exec.Command(bin, "--no-huge", "-m", "512", "--no-pci", "--file-prefix", fmt.Sprintf("unikit%d", os.Getpid()),
		"--vdev", "net_vhost0,iface="+sock+extra, "--",
		"--total-num-mbufs=8192", "--forward-mode=macswap", "--auto-start", "--stats-period=0")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &out
	require.NoError(t, cmd.Start())
	stdin.Close()
	t.Cleanup(func() {
		keep.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("testpmd output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("testpmd did not create %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVhostUserTestpmd sends frames through the driver to DPDK's vhost-user backend and checks
// that testpmd's macswap returns each of them with the MACs swapped and the payload intact.
func TestVhostUserTestpmd(t *testing.T) {
	before := runtime.NumGoroutine()
	defer func() {
		if !t.Failed() {
			leaktest.Settle(t, before)
		}
	}()
	for _, tc := range []struct {
		name   string
		devarg string
		cfg    *virtio.NetConfig
	}{
		// DPDK's vhost library offers VIRTIO_F_RING_PACKED: by default the driver uses it.
		{"packed", "", nil},
		{"split", "", &virtio.NetConfig{Features: virtio.NetSupported &^ virtio.FeatureRingPacked}},
		{"split-no-offloads", "", &virtio.NetConfig{Features: virtio.NetFMAC | virtio.NetFMrgRxbuf}},
		{"packed-tso", ",tso=1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := testpmd(t, tc.devarg)
			v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{Net: tc.cfg})
			require.NoError(t, err)
			defer v.Close()
			t.Logf("negotiated features %#x, link features %v", v.NegotiatedFeatures(), v.Features())
			var mu sync.Mutex
			var got [][]byte
			r := &recorder{l: v, check: func(f *netstack.Frame) {
				var b []byte
				for _, s := range f.Segments {
					b = append(b, s...)
				}
				mu.Lock()
				got = append(got, b)
				mu.Unlock()
			}}
			require.NoError(t, v.Start(r))
			const n = 1000
			src := v.MAC()
			dst := []byte{0x02, 0, 0, 0, 0, 0x99}
			sent := make(map[string]bool)
			for i := range n {
				fr := make([]byte, 60+i%1400)
				copy(fr, dst)
				copy(fr[6:], src)
				fr[12], fr[13] = 0x88, 0xb5 // local experimental ethertype
				for j := 14; j < len(fr); j++ {
					fr[j] = byte(i + j)
				}
				sent[string(fr[14:])] = true
				_, err := v.Transmit([]netstack.Frame{{Segments: [][]byte{fr}}})
				require.NoError(t, err)
				if i%64 == 63 {
					// Let testpmd keep up: it drops when its rings are full.
					eventually(t, func() bool { return r.frames.Load() >= int64(i-64) }, "frames back")
				}
			}
			eventually(t, func() bool { return r.frames.Load() >= n*95/100 }, "95% of frames back")
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			for _, b := range got {
				require.Equal(t, []byte(src), b[0:6], "macswap: destination is our source")
				require.Equal(t, dst, []byte(b[6:12]), "macswap: source is our destination")
				require.True(t, sent[string(b[14:])], "payload intact")
			}
			t.Logf("%s: %d of %d frames came back macswapped; stats %+v", tc.name, len(got), n, v.Stats())
			require.NoError(t, v.Err())
		})
	}
}
