package virtio_test

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/internal/leaktest"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
	"github.com/unikit/unikit/virtio"
)

// ringKinds are the two ring layouts DPDK's vhost-user backend offers; packed is what the
// driver negotiates by default.
var ringKinds = []struct {
	name string
	cfg  *virtio.NetConfig
}{
	{"packed", nil},
	{"split", &virtio.NetConfig{Features: virtio.NetSupported &^ virtio.FeatureRingPacked}},
}

// echoDst is the made-up destination of echoFrame's frames.
var echoDst = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}

// echoFrame returns an n-byte frame from src to echoDst with a local experimental ethertype,
// which testpmd's macswap sends back with the addresses swapped.
func echoFrame(src net.HardwareAddr, n int) []byte {
	f := make([]byte, n)
	copy(f, echoDst)
	copy(f[6:], src)
	f[12], f[13] = 0x88, 0xb5
	return f
}

// dialStarted connects the driver to the vhost-user backend at sock and starts it with a
// Recorder as its receiver. The caller closes the driver.
func dialStarted(tb testing.TB, sock string, cfg *virtio.NetConfig) (*virtio.VhostUser, *linktest.Recorder) {
	tb.Helper()
	v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{Net: cfg})
	require.NoError(tb, err)
	r := linktest.NewRecorder(v, nil)
	require.NoError(tb, v.Start(r))
	return v, r
}

// dialCounting is dialStarted with a Counter as the receiver, for benchmarks.
func dialCounting(tb testing.TB, sock string, cfg *virtio.NetConfig) (*virtio.VhostUser, *linktest.Counter) {
	tb.Helper()
	v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{Net: cfg})
	require.NoError(tb, err)
	c := linktest.NewCounter(v, nil)
	require.NoError(tb, v.Start(c))
	return v, c
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
			sock := dpdk.Start(t, &dpdk.Options{VhostArgs: tc.devarg, Mode: "macswap"}).Socket
			v, err := virtio.DialVhostUser(sock, &virtio.VhostUserConfig{Net: tc.cfg})
			require.NoError(t, err)
			defer v.Close()
			t.Logf("negotiated features %#x, link features %v", v.NegotiatedFeatures(), v.Features())
			r := linktest.NewRecorder(v, nil)
			require.NoError(t, v.Start(r))
			const n = 1000
			src := v.MAC()
			sent := make(map[string]bool)
			for i := range n {
				fr := echoFrame(src, 60+i%1400)
				for j := 14; j < len(fr); j++ {
					fr[j] = byte(i + j)
				}
				sent[string(fr[14:])] = true
				_, err := v.Transmit([]link.Frame{{Segments: [][]byte{fr}}})
				require.NoError(t, err)
				if i%64 == 63 {
					// Let testpmd keep up: it drops when its rings are full.
					r.WaitFrames(t, i-64)
				}
			}
			r.WaitFrames(t, n*95/100)
			// Stragglers still on their way are checked too.
			got := r.Settle(100 * time.Millisecond)
			for _, f := range got {
				b := f.Data
				require.Equal(t, []byte(src), b[0:6], "macswap: destination is our source")
				require.Equal(t, []byte(echoDst), b[6:12], "macswap: source is our destination")
				require.True(t, sent[string(b[14:])], "payload intact")
			}
			r.Check(t)
			t.Logf("%s: %d of %d frames came back macswapped; stats %+v", tc.name, len(got), n, v.Stats())
			require.NoError(t, v.Err())
		})
	}
}

// TestVhostUserStartContract: the vhost-user link refuses a nil receiver, a second start and
// a start after Close with the link package's sentinels.
func TestVhostUserStartContract(t *testing.T) {
	sock := dpdk.Start(t, &dpdk.Options{Mode: "macswap"}).Socket
	v, err := virtio.DialVhostUser(sock, nil)
	require.NoError(t, err)
	defer v.Close()
	r := linktest.NewRecorder(v, nil)
	require.ErrorIs(t, v.Start(nil), link.ErrNilReceiver)
	require.NoError(t, v.Start(r))
	require.ErrorIs(t, v.Start(r), link.ErrStarted)
	require.NoError(t, v.Close())
	require.ErrorIs(t, v.Start(r), link.ErrClosed)
}

// TestVhostUserLentFramesOutliveClose: a frame lent before Close can still be read after it,
// unchanged, and the memory shared with the backend is unmapped only once the last such frame
// has been released.
func TestVhostUserLentFramesOutliveClose(t *testing.T) {
	sock := dpdk.Start(t, nil).Socket // io forwarding on one port: every frame comes back
	v, err := virtio.DialVhostUser(sock, nil)
	require.NoError(t, err)
	defer v.Close()
	mappings := func() int {
		maps, err := os.ReadFile("/proc/self/maps")
		require.NoError(t, err)
		return strings.Count(string(maps), "/memfd:unikit-virtio")
	}
	before := mappings()
	r := linktest.NewRecorder(v, nil)
	r.Hold(1)
	require.NoError(t, v.Start(r))
	f := echoFrame(v.MAC(), 200)
	// testpmd drops frames until its port is up: send until one comes back.
	require.Eventually(t, func() bool {
		if r.Len() > 0 {
			return true
		}
		_, err := v.Transmit([]link.Frame{{Segments: [][]byte{f}}})
		return err != nil
	}, linktest.DefaultTimeout, 10*time.Millisecond, "a frame back")
	require.NoError(t, v.Err())
	require.NoError(t, v.Close())
	require.Equal(t, before, mappings(), "the shared memory is unmapped while a frame is lent")
	held := r.Held()
	require.Len(t, held, 1)
	var data []byte
	for _, seg := range held[0].Segments {
		data = append(data, seg...)
	}
	require.Equal(t, r.Frames()[0].Data, data, "the frame lent over Close")
	require.Equal(t, 1, r.ReleaseHeld())
	r.Check(t)
	require.Equal(t, before-1, mappings(), "the shared memory is unmapped with the last frame")
}

// TestVhostUserCloseEndsReconnection dials and closes the driver many times against one
// testpmd: every Close ends the connection for good, so testpmd sees exactly one connection
// per dial. A reconnect monitor that took Close's own hang-up for the backend leaving would
// dial again (and race with Close over the eventfds it sends).
func TestVhostUserCloseEndsReconnection(t *testing.T) {
	pmd := dpdk.Start(t, nil)
	const dials = 20
	for range dials {
		v, err := virtio.DialVhostUser(pmd.Socket, nil)
		require.NoError(t, err)
		require.NoError(t, v.Start(linktest.NewRecorder(v, nil)))
		require.NoError(t, v.Close())
		require.Zero(t, v.Reconnects())
	}
	out := pmd.Stop()
	require.Equal(t, dials, strings.Count(out, "new vhost user connection"), "connections testpmd accepted")
}

// BenchmarkVhostUserMacswap measures 64-byte frames per second sent by the driver to DPDK's
// vhost-user backend (testpmd, macswap, forwarding on CPU 1): those the driver handed over,
// those the backend counted (the figure compared with BenchmarkDPDKVirtioUserTxonly) and
// those that came back. Run it pinned to CPU 0 (taskset -c 0), as the reference is.
func BenchmarkVhostUserMacswap(b *testing.B) {
	for _, bc := range ringKinds {
		b.Run(bc.name, func(b *testing.B) { benchmarkVhostUserMacswap(b, bc.cfg) })
	}
}

func benchmarkVhostUserMacswap(b *testing.B, cfg *virtio.NetConfig) {
	backend := dpdk.Start(b, &dpdk.Options{Mode: "macswap", Lcores: "0,1"})
	v, c := dialCounting(b, backend.Socket, cfg)
	defer v.Close()
	batch := make([]link.Frame, 32)
	for i := range batch {
		batch[i] = link.Frame{Segments: [][]byte{echoFrame(v.MAC(), 64)}}
	}
	b.ReportAllocs()
	report := allocs.Start(b)
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
	report(int64(sent), "frame")
	b.ReportMetric(float64(sent)/el.Seconds(), "tx-frames/s")
	b.ReportMetric(float64(c.Count())/el.Seconds(), "echoed-frames/s")
	b.ReportMetric(float64(backendRx(b, backend))/el.Seconds(), "backend-rx-frames/s")
}

// BenchmarkDPDKVirtioUserTxonly is the reference for BenchmarkVhostUserMacswap: DPDK's own C
// virtio driver (net_virtio_user in a second testpmd, txonly, 64-byte frames) against the same
// backend for three seconds. The backend forwards on CPU 1, the reference on CPU 0. The
// metric is the frames per second the backend received. It ignores b.N.
func BenchmarkDPDKVirtioUserTxonly(b *testing.B) {
	backend := dpdk.Start(b, &dpdk.Options{Mode: "macswap", Lcores: "0,1"})
	for b.Loop() {
	}
	front := dpdk.Start(b, &dpdk.Options{Socket: backend.Socket, Frontend: true, Mode: "txonly", Lcores: "1,0",
		Args: []string{"--txpkts=64"}})
	time.Sleep(3 * time.Second)
	front.Stop()
	b.ReportMetric(float64(backendRx(b, backend))/3, "backend-rx-frames/s")
}

// backendRx stops a testpmd backend and returns the frames it received, from the
// statistics it prints when it stops.
func backendRx(b *testing.B, backend *dpdk.Testpmd) int {
	out := backend.Stop()
	m := regexp.MustCompile(`RX-packets: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no statistics in testpmd's output:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestVhostUserReconnect stops testpmd under a running driver and starts a new one on the same
// socket: the link goes down, comes back up once the frontend has reconnected and replayed
// the device setup, and frames flow again. Split rings resume at the used index in shared
// memory, packed rings where the driver says; more frames than a ring holds cross before and
// after, so both resume in a later lap than the first.
func TestVhostUserReconnect(t *testing.T) {
	for _, tc := range ringKinds {
		t.Run(tc.name, func(t *testing.T) { testVhostUserReconnect(t, tc.cfg) })
	}
}

func testVhostUserReconnect(t *testing.T, cfg *virtio.NetConfig) {
	first := dpdk.Start(t, &dpdk.Options{Mode: "macswap"})
	sock := first.Socket
	v, r := dialStarted(t, sock, cfg)
	defer v.Close()
	f := echoFrame(v.MAC(), 60)
	// testpmd drops what it cannot forward at once: send until enough frames came back,
	// paced so that its rings keep up.
	send := func(want int) {
		deadline := time.Now().Add(20 * time.Second)
		for r.Len() < want {
			_, err := v.Transmit([]link.Frame{{Segments: [][]byte{f}}})
			require.NoError(t, err)
			time.Sleep(100 * time.Microsecond)
			require.True(t, time.Now().Before(deadline), "%d of %d frames back", r.Len(), want)
		}
	}
	const lap = 600 // more than the 256 entries of each ring
	send(lap)
	first.Stop()
	r.WaitStates(t, false) // the backend left
	require.False(t, v.Up())
	_, err := v.Transmit([]link.Frame{{Segments: [][]byte{f}}})
	require.ErrorIs(t, err, link.ErrLinkDown)

	os.Remove(sock)
	dpdk.Start(t, &dpdk.Options{Socket: sock, Mode: "macswap"})
	r.WaitStates(t, false, true) // reconnected
	require.Equal(t, int64(1), v.Reconnects())
	send(r.Len() + lap)
	require.NoError(t, v.Err())
	t.Logf("features %#x, stats %+v", v.NegotiatedFeatures(), v.Stats())
}

// BenchmarkVhostUserRx measures 64-byte frames per second received by the driver from DPDK's
// vhost-user backend generating them (testpmd txonly, forwarding on CPU 1), for packed and
// split rings, against frames per second the backend sent. Run it pinned to CPU 0.
func BenchmarkVhostUserRx(b *testing.B) {
	for _, bc := range ringKinds {
		b.Run(bc.name, func(b *testing.B) {
			backend := dpdk.Start(b, &dpdk.Options{Mode: "txonly", Lcores: "0,1", Args: []string{"--txpkts=64"}})
			v, c := dialCounting(b, backend.Socket, bc.cfg)
			defer v.Close()
			start := time.Now()
			before := c.Count()
			for b.Loop() {
				time.Sleep(time.Millisecond)
			}
			el := time.Since(start)
			b.ReportMetric(float64(c.Count()-before)/el.Seconds(), "rx-frames/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestVhostUserProtocolFeatures negotiates protocol features with DPDK's vhost-user backend:
// MQ, REPLY_ACK and NET_MTU are taken, every set-up message is acknowledged, both rings are
// enabled explicitly and frames flow; an MTU the backend refuses (below 68) fails the set-up
// with ErrVhostUserRefused instead of leaving a device that never moves a frame.
func TestVhostUserProtocolFeatures(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		pmd := dpdk.Start(t, &dpdk.Options{Mode: "macswap"})
		v, err := virtio.DialVhostUser(pmd.Socket, &virtio.VhostUserConfig{MTU: 9000})
		require.NoError(t, err)
		defer v.Close()
		want := virtio.VhostUserProtocolMQ | virtio.VhostUserProtocolReplyAck | virtio.VhostUserProtocolNetMTU
		require.Equal(t, want, v.ProtocolFeatures())
		require.Positive(t, v.QueuePairs())
		r := linktest.NewRecorder(v, nil)
		require.NoError(t, v.Start(r))
		_, err = v.Transmit([]link.Frame{{Segments: [][]byte{echoFrame(v.MAC(), 100)}}})
		require.NoError(t, err)
		r.WaitFrames(t, 1) // back

		out := pmd.Stop()
		require.Contains(t, out, fmt.Sprintf("negotiated Vhost-user protocol features: %#x", want))
		require.Contains(t, out, "VHOST_USER_NET_SET_MTU")
		require.Contains(t, out, "set queue enable: 1 to qp idx: 0")
		require.Contains(t, out, "set queue enable: 1 to qp idx: 1")
	})
	t.Run("refused", func(t *testing.T) {
		pmd := dpdk.Start(t, &dpdk.Options{Mode: "macswap"})
		_, err := virtio.DialVhostUser(pmd.Socket, &virtio.VhostUserConfig{MTU: 60})
		require.ErrorIs(t, err, virtio.ErrVhostUserRefused)
		t.Log(err)
	})
}
