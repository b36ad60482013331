package virtio_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/virtio"
)

// testpmd starts DPDK's testpmd with a vhost-user backend (net_vhost) listening on a socket in
// a temporary directory, forwarding in macswap mode, and returns the socket path. extra are
// additional net_vhost devargs. testpmd runs without hugepages or PCI devices.
func testpmd(tb testing.TB, extra string) string {
	sock := filepath.Join(tb.TempDir(), "vhost.sock")
	startTestpmd(tb, "net_vhost0,iface="+sock+extra, "macswap", "0,1")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testpmd did not create %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var testpmdSeq atomic.Int32

// startTestpmd runs testpmd with one virtual device in the given forwarding mode. The returned
// function stops it (testpmd stops when its standard input closes) and returns its output,
// which ends with the forwarding statistics; Cleanup stops it too.
// lcores is testpmd's -l list: the main lcore first, then the forwarding one; two testpmds on
// this two-core machine must forward on different cores, or their busy polling starves both.
func startTestpmd(tb testing.TB, vdev, mode, lcores string) (stop func() string) {
	bin := peers.Program(tb, "dpdk-testpmd", "dpdk-dev")
	stdin, keep, err := os.Pipe()
	require.NoError(tb, err)
	var out bytes.Buffer
	prefix := fmt.Sprintf("unikit%d-%d", os.Getpid(), testpmdSeq.Add(1))
	cmd := exec.Command(bin, "-l", lcores, "--no-huge", "-m", "512", "--no-pci", "--file-prefix", prefix,
		"--vdev", vdev, "--", "--total-num-mbufs=8192", "--forward-mode="+mode, "--auto-start", "--stats-period=0")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &out
	require.NoError(tb, cmd.Start())
	stdin.Close()
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			keep.Close()
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		return out.String()
	}
	tb.Cleanup(func() {
		o := stop()
		dpdk.RemoveRuntimeDir(prefix)
		if tb.Failed() {
			tb.Logf("testpmd output:\n%s", o)
		}
	})
	return stop
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

// BenchmarkVhostUserMacswap measures 60-byte frames per second sent by the driver to DPDK's
// vhost-user backend (testpmd, macswap), and how many per second came back.
func BenchmarkVhostUserMacswap(b *testing.B) {
	sock := testpmd(b, "")
	v, err := virtio.DialVhostUser(sock, nil)
	require.NoError(b, err)
	defer v.Close()
	r := &recorder{l: v}
	require.NoError(b, v.Start(r))
	batch := make([]netstack.Frame, 32)
	for i := range batch {
		f := make([]byte, 60)
		copy(f, []byte{2, 0, 0, 0, 0, 0x99})
		copy(f[6:], v.MAC())
		f[12], f[13] = 0x88, 0xb5
		batch[i] = netstack.Frame{Segments: [][]byte{f}}
	}
	b.ReportAllocs()
	start := time.Now()
	sent := 0
	for b.Loop() {
		n, err := v.Transmit(batch)
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	el := time.Since(start)
	b.ReportMetric(float64(sent)/el.Seconds(), "tx-frames/s")
	b.ReportMetric(float64(r.frames.Load())/el.Seconds(), "echoed-frames/s")
}

// BenchmarkDPDKVirtioUserTxonly is the reference for BenchmarkVhostUserMacswap: DPDK's own C
// virtio driver (net_virtio_user in a second testpmd, txonly, 64-byte frames) against the same
// backend for three seconds. The metric is the frames per second the backend received. It
// ignores b.N.
func BenchmarkDPDKVirtioUserTxonly(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "vhost.sock")
	stopBackend := startTestpmd(b, "net_vhost0,iface="+sock, "macswap", "0,1")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("backend did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for b.Loop() {
	}
	stopFront := startTestpmd(b, "net_virtio_user0,path="+sock, "txonly", "1,0")
	time.Sleep(3 * time.Second)
	stopFront()
	out := stopBackend()
	m := regexp.MustCompile(`RX-packets: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no statistics in testpmd's output:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	b.ReportMetric(float64(n)/3, "backend-rx-frames/s")
}

// TestVhostUserReconnect stops testpmd under a running driver and starts a new one on the same
// socket: the link goes down, comes back up once the frontend has reconnected and replayed
// the device setup, and frames flow again (split rings resume at the used index).
func TestVhostUserReconnect(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vhost.sock")
	vdev := "net_vhost0,iface=" + sock
	waitSock := func() {
		eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, "testpmd's socket")
	}
	stop := startTestpmd(t, vdev, "macswap", "0,1")
	waitSock()
	v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{
		Net: &virtio.NetConfig{Features: virtio.NetSupported &^ virtio.FeatureRingPacked}})
	require.NoError(t, err)
	defer v.Close()
	r := &recorder{l: v}
	require.NoError(t, v.Start(r))
	f := make([]byte, 60)
	copy(f, []byte{2, 0, 0, 0, 0, 0x99})
	copy(f[6:], v.MAC())
	f[12], f[13] = 0x88, 0xb5
	send := func(want int64) {
		for r.frames.Load() < want {
			_, err := v.Transmit([]netstack.Frame{{Segments: [][]byte{f}}})
			require.NoError(t, err)
			time.Sleep(time.Millisecond)
		}
	}
	send(10)
	stop()
	eventually(t, func() bool { up, ok := r.lastState(); return ok && !up }, "link down after the backend left")
	require.False(t, v.Up())
	_, err = v.Transmit([]netstack.Frame{{Segments: [][]byte{f}}})
	require.ErrorIs(t, err, netstack.ErrLinkDown)

	os.Remove(sock)
	startTestpmd(t, vdev, "macswap", "0,1")
	waitSock()
	eventually(t, func() bool { up, ok := r.lastState(); return ok && up }, "link up after reconnecting")
	require.Equal(t, int64(1), v.Reconnects())
	before := r.frames.Load()
	send(before + 10)
	require.NoError(t, v.Err())
}
