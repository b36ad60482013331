package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/vmimage"
	"github.com/unikit/unikit/internal/vmrun"
	"github.com/unikit/unikit/virtio"
)

// Addresses of the TAP network of TestNetFeatures: the namespace's side and the guest's.
const (
	tapName   = "uktap0"
	tapHost   = "10.99.0.1"
	tapGuest  = "10.99.0.2"
	tapPrefix = 24
)

// bulkBytes is what TestNetFeatures moves each way through every variant.
const bulkBytes = 64 << 20

// Kept in step with testdata/bulk: the page at / and the key of its download stream.
const (
	bulkPage = "bulk: upload to /upload, download from /download?n=BYTES\n"
	bulkSeed = "unikit bulk download, 32 bytes!!"
)

// netVariant is one configuration of QEMU's virtio-net-pci device, and what the negotiation
// must then give: the bits want set and the bits wantNot clear, in the driver's view (its
// log) and in the device's (QEMU's monitor).
type netVariant struct {
	name    string
	props   []string
	queues  int
	want    uint64
	wantNot uint64
}

// Feature groups of the variants.
const (
	offloads = virtio.NetFCsum | virtio.NetFGuestCsum | virtio.NetFHostTSO4 | virtio.NetFHostTSO6 |
		virtio.NetFGuestTSO4 | virtio.NetFGuestTSO6
	tso = virtio.NetFHostTSO4 | virtio.NetFHostTSO6 | virtio.NetFGuestTSO4 | virtio.NetFGuestTSO6
)

// noTSO turns every segmentation offload of the device off.
var noTSO = []string{"host_tso4=off", "host_tso6=off", "guest_tso4=off", "guest_tso6=off",
	"host_ecn=off", "guest_ecn=off", "host_ufo=off", "guest_ufo=off"}

var netVariants = []netVariant{
	{
		// A TAP peer has vnet headers, so QEMU offers every offload; the driver takes them.
		name: "offloads-on",
		want: virtio.FeatureVersion1 | virtio.FeatureEventIdx | virtio.NetFMrgRxbuf | offloads,
		// Offered by QEMU but not supported by the driver: declined.
		wantNot: virtio.FeatureRingPacked | virtio.NetFMQ | virtio.FeatureIndirectDesc | virtio.NetFGuestECN,
	},
	{
		name:    "offloads-off",
		props:   append([]string{"csum=off", "guest_csum=off"}, noTSO...),
		want:    virtio.FeatureVersion1 | virtio.NetFMrgRxbuf,
		wantNot: offloads,
	},
	{
		// Checksum offload without segmentation: frames stay within the MTU.
		name:    "csum-only",
		props:   noTSO,
		want:    virtio.NetFCsum | virtio.NetFGuestCsum,
		wantNot: tso,
	},
	{
		name:  "packed",
		props: []string{"packed=on"},
		want:  virtio.FeatureRingPacked | offloads,
	},
	{
		// Without merged receive buffers the driver declines GUEST_TSO (it would need 64 KiB
		// receive buffers) and keeps the rest.
		name:    "mrg_rxbuf-off",
		props:   []string{"mrg_rxbuf=off"},
		want:    virtio.NetFCsum | virtio.NetFGuestCsum | virtio.NetFHostTSO4,
		wantNot: virtio.NetFMrgRxbuf | virtio.NetFGuestTSO4 | virtio.NetFGuestTSO6,
	},
	{
		// Two queue pairs on a multi-queue TAP; the driver uses one and says so on the
		// control queue.
		name:   "mq",
		props:  []string{"mq=on", "vectors=6"},
		queues: 2,
		want:   virtio.NetFMQ | virtio.NetFCtrlVQ | offloads,
	},
}

// qemuFeatureNames are the names QEMU's "info virtio-status" gives the bits the variants
// check.
var qemuFeatureNames = map[uint64]string{
	virtio.NetFCsum:            "VIRTIO_NET_F_CSUM",
	virtio.NetFGuestCsum:       "VIRTIO_NET_F_GUEST_CSUM",
	virtio.NetFHostTSO4:        "VIRTIO_NET_F_HOST_TSO4",
	virtio.NetFHostTSO6:        "VIRTIO_NET_F_HOST_TSO6",
	virtio.NetFGuestTSO4:       "VIRTIO_NET_F_GUEST_TSO4",
	virtio.NetFGuestTSO6:       "VIRTIO_NET_F_GUEST_TSO6",
	virtio.NetFGuestECN:        "VIRTIO_NET_F_GUEST_ECN",
	virtio.NetFMrgRxbuf:        "VIRTIO_NET_F_MRG_RXBUF",
	virtio.NetFCtrlVQ:          "VIRTIO_NET_F_CTRL_VQ",
	virtio.NetFMQ:              "VIRTIO_NET_F_MQ",
	virtio.FeatureEventIdx:     "VIRTIO_RING_F_EVENT_IDX",
	virtio.FeatureIndirectDesc: "VIRTIO_RING_F_INDIRECT_DESC",
	virtio.FeatureVersion1:     "VIRTIO_F_VERSION_1",
	virtio.FeatureRingPacked:   "VIRTIO_F_RING_PACKED",
}

// TestNetFeatures boots testdata/bulk under qemu-system-x86_64 (TCG) once per configuration
// of the virtio-net-pci device, on a TAP device in a network namespace the test makes: a TAP
// peer carries vnet headers, so QEMU offers the checksum and segmentation offloads that its
// user-mode network never does. In each variant our driver must negotiate what the variant
// says (checked in the driver's log and in QEMU's own view of the device), the Linux kernel's
// TCP in the namespace fetches a page, uploads 64 MiB and downloads 64 MiB with their SHA-256
// intact, and the test logs the boot to the first 200 and the throughput each way.
func TestNetFeatures(t *testing.T) {
	if testing.Short() {
		t.Skip("boots virtual machines under TCG")
	}
	peers.Program(t, "qemu-system-x86_64", "qemu-system-x86")
	peers.Root(t)
	requireImageTools(t, vmimage.AMD64)

	dir := filepath.Join(t.TempDir(), "image")
	var log bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"image", "-arch", "amd64", "-o", dir,
		"./testdata/bulk", "--", "-ip", fmt.Sprintf("%s/%d", tapGuest, tapPrefix)}, nil, &log, &log), log.String())
	im, err := vmimage.OpenImage(dir)
	require.NoError(t, err)

	for _, v := range netVariants {
		t.Run(v.name, func(t *testing.T) { testNetVariant(t, im, v) })
	}
}

// testNetVariant boots im on a TAP device configured as v says and checks it.
func testNetVariant(t *testing.T, im vmimage.Image, v netVariant) {
	ns := netns.New(t)
	tuntap := []string{"tuntap", "add", "dev", tapName, "mode", "tap", "vnet_hdr"}
	if v.queues > 1 {
		tuntap = append(tuntap, "multi_queue")
	}
	ns.IP(t, tuntap...)
	ns.AddAddr(t, tapName, netip.MustParsePrefix(fmt.Sprintf("%s/%d", tapHost, tapPrefix)))
	ns.LinkUp(t, tapName)

	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+10*time.Minute)
	defer cancel()
	monitor := filepath.Join(t.TempDir(), "monitor.sock")
	console := newMarkerWriter("virtio-pci: driving NIC")
	var stderr bytes.Buffer
	start := time.Now()
	var vm *vmrun.VM
	// QEMU opens the TAP device in the namespace of the thread that starts it.
	require.NoError(t, ns.Do(func() (err error) {
		vm, err = vmrun.Start(ctx, im, vmrun.Config{
			Accel:         vmrun.AccelTCG,
			TAP:           tapName,
			TAPQueues:     v.queues,
			NICProperties: append([]string{"id=nic0"}, v.props...),
			Console:       console,
			Stderr:        &stderr,
			QEMUArgs:      []string{"-monitor", "unix:" + monitor + ",server=on,wait=off"},
		})
		return err
	}))
	exited := make(chan error, 1)
	go func() { exited <- vm.Wait() }()
	defer func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("console:\n%s\nstderr:\n%s", console.String(), stderr.String())
		}
	}()

	client := nsClient(ns)
	base := "http://" + net.JoinHostPort(tapGuest, "80")
	body, err := firstPage(ctx, client, base+"/", exited)
	require.NoError(t, err)
	boot := time.Since(start)
	require.Equal(t, bulkPage, body)

	// The driver's view of the negotiation, from its log line, and the device's.
	m := regexp.MustCompile(`virtio-pci: driving NIC.* features=(0x[0-9a-f]+)`).FindStringSubmatch(console.String())
	require.NotNil(t, m, "the driver logs the negotiated features")
	driver, err := strconv.ParseUint(m[1], 0, 64)
	require.NoError(t, err)
	device := deviceFeatures(t, monitor)
	for bit, name := range qemuFeatureNames {
		require.Equal(t, driver&bit != 0, device[name], "%s: the driver and QEMU disagree (driver %#x)", name, driver)
		if v.want&bit != 0 {
			require.NotZero(t, driver&bit, "%s not negotiated (%#x)", name, driver)
		}
		if v.wantNot&bit != 0 {
			require.Zero(t, driver&bit, "%s negotiated (%#x)", name, driver)
		}
	}

	up := uploadBulk(ctx, t, client, base)
	down := downloadBulk(ctx, t, client, base)
	t.Logf("%s: features %#x; QEMU start to the first 200 %v; 64 MiB up %.1f MB/s, down %.1f MB/s",
		v.name, driver, boot.Round(time.Millisecond), mbps(up), mbps(down))
}

// nsClient returns an HTTP client whose connections are the Linux kernel's TCP sockets in ns.
func nsClient(ns *netns.NS) *http.Client {
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = ns.Do(func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableCompression: true}}
}

// uploadBulk posts bulkBytes to /upload and requires the appliance's digest of them to match;
// it returns how long that took.
func uploadBulk(ctx context.Context, t *testing.T, client *http.Client, base string) time.Duration {
	var key [32]byte
	copy(key[:], "unikit bulk upload")
	sum := sha256.New()
	body := io.TeeReader(io.LimitReader(rand.NewChaCha8(key), bulkBytes), sum)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/upload", body)
	require.NoError(t, err)
	req.ContentLength = bulkBytes
	start := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(got))
	require.Equal(t, fmt.Sprintf("%s %d\n", hex.EncodeToString(sum.Sum(nil)), bulkBytes), string(got),
		"the appliance's digest of the upload")
	return took
}

// downloadBulk fetches bulkBytes from /download and requires them to be the ChaCha8 stream
// keyed with bulkSeed; it returns how long that took.
func downloadBulk(ctx context.Context, t *testing.T, client *http.Client, base string) time.Duration {
	want := sha256.New()
	_, err := io.CopyN(want, rand.NewChaCha8([32]byte([]byte(bulkSeed))), bulkBytes)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/download?n=%d", base, bulkBytes), nil)
	require.NoError(t, err)
	start := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	took := time.Since(start)
	require.NoError(t, err)
	require.EqualValues(t, bulkBytes, n)
	require.Equal(t, hex.EncodeToString(want.Sum(nil)), hex.EncodeToString(got.Sum(nil)), "the download's digest")
	return took
}

// mbps is bulkBytes per d in MB/s (10^6 bytes).
func mbps(d time.Duration) float64 { return bulkBytes / d.Seconds() / 1e6 }

// deviceFeatures asks QEMU's monitor at the socket path monitor for the features the guest
// negotiated with the device nic0 ("info virtio-status") and returns their names.
func deviceFeatures(t *testing.T, monitor string) map[string]bool {
	t.Helper()
	conn, err := net.Dial("unix", monitor)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	r := bufio.NewReader(conn)
	readPrompt := func() string {
		var out strings.Builder
		for !strings.HasSuffix(out.String(), "(qemu) ") {
			b, err := r.ReadByte()
			require.NoError(t, err, "monitor said: %s", out.String())
			out.WriteByte(b)
		}
		return out.String()
	}
	readPrompt()
	_, err = fmt.Fprintf(conn, "info virtio-status /machine/peripheral/nic0/virtio-backend\n")
	require.NoError(t, err)
	out := readPrompt()
	guest, _, ok := strings.Cut(out, "Host features:")
	require.True(t, ok, "monitor said: %s", out)
	_, guest, ok = strings.Cut(guest, "Guest features:")
	require.True(t, ok, "monitor said: %s", out)
	names := map[string]bool{}
	for _, line := range strings.Split(guest, "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			names[name] = true
		}
	}
	require.NotEmpty(t, names, "monitor said: %s", out)
	return names
}
