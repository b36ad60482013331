package appliance_test

import (
	"context"
	"encoding/binary"
	"flag"
	"github.com/unikit/unikit/internal/leaktest"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/netstack/link/pcap"
)

func parse(t testing.TB, args ...string) (*appliance.Flags, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := appliance.Register(fs, nil)
	return f, fs.Parse(args)
}

func TestVhostUserWithoutBackend(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("vhost-user is Linux only")
	}
	f, err := parse(t, "-net", "vhost-user:"+t.TempDir()+"/none.sock", "-ip", "10.1.0.2/24")
	require.NoError(t, err)
	_, err = f.Open(context.Background(), 80)
	require.ErrorContains(t, err, "vhost-user:")
}

// serve serves a page on n's listener for port 80 until the test ends.
func serve(t *testing.T, n *appliance.Network, body string) {
	t.Helper()
	ln, err := n.Listen(80)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b)
}

func open(t *testing.T, args ...string) *appliance.Network {
	t.Helper()
	f, err := parse(t, args...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := f.Open(ctx, 80)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

func TestOpenServesFromLoopback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		guest string // the stack's address; empty for kernel
		mode  string
	}{
		{"user-dhcp", []string{"-net", "user", "-listen", "127.0.0.1:0"}, "10.0.2.15/24", "user"},
		{"user-static", []string{"-listen", "127.0.0.1:0", "-ip", "10.0.2.20/24"}, "10.0.2.20/24", "user"},
		{"user-other-subnet", []string{"-listen", "127.0.0.1:0", "-ip", "192.168.77.5/24", "-gw", "192.168.77.1"}, "192.168.77.5/24", "user"},
		{"user-xen-dhcp", []string{"-net", "user,nic=xen", "-listen", "127.0.0.1:0"}, "10.0.2.15/24", "user,nic=xen"},
		{"user-virtio-dhcp", []string{"-net", "user,nic=virtio", "-listen", "127.0.0.1:0"}, "10.0.2.15/24", "user,nic=virtio"},
		{"kernel", []string{"-net", "kernel", "-listen", "127.0.0.1:0"}, "", "kernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			t.Cleanup(func() { leaktest.Settle(t, before) }) // runs after the other cleanups
			func() {
				n := open(t, tc.args...)
				serve(t, n, "hello "+tc.name)
				require.True(t, n.Addr(80).Addr().IsLoopback(), "reachable at %v", n.Addr(80))
				require.NotZero(t, n.Addr(80).Port())
				require.Equal(t, "hello "+tc.name, get(t, "http://"+n.Addr(80).String()+"/"))
				require.Equal(t, tc.mode, n.Mode())
				if tc.guest == "" {
					require.Nil(t, n.Stack())
				} else {
					require.Contains(t, n.NIC().Addresses(), netip.MustParsePrefix(tc.guest))
				}
			}()
		})
	}
}

func TestKernelListenerOnce(t *testing.T) {
	n := open(t, "-net", "kernel", "-listen", "127.0.0.1:0")
	ln, err := n.Listen(80)
	require.NoError(t, err)
	defer ln.Close()
	_, err = n.Listen(80)
	require.Error(t, err)
	require.Nil(t, n.Stack())
}

func TestOpenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"user listen busy", []string{"-listen", busy.Addr().String()}},
		{"kernel listen busy", []string{"-net", "kernel", "-listen", busy.Addr().String()}},
		{"user guest is gateway", []string{"-listen", "127.0.0.1:0", "-ip", "10.0.2.2/24"}},
		{"socket nobody listening", []string{"-net", "socket:" + filepath.Join(dir, "none.sock")}},
		{"pcap unwritable", []string{"-listen", "127.0.0.1:0", "-pcap", filepath.Join(dir, "no", "such", "dir.pcap")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			f, err := parse(t, tc.args...)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = f.Open(ctx, 80)
			require.Error(t, err)
			leaktest.Settle(t, before)
		})
	}
}

// TestSocketPair joins two programs' stacks through -net socket-listen and -net socket over a
// UNIX socket, with static addresses, and fetches a page from one stack to the other; the
// listening side captures with -pcap.
func TestSocketPair(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "link.sock")
	capture := filepath.Join(dir, "cap.pcap")

	f, err := parse(t, "-net", "socket-listen:"+sock, "-ip", "10.9.0.1/24", "-pcap", capture)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	server, err := f.Open(ctx, 80)
	require.NoError(t, err)
	serve(t, server, "over the socket")
	require.Equal(t, netip.MustParseAddrPort("10.9.0.1:80"), server.Addr(80))

	client := open(t, "-net", "socket:"+sock, "-ip", "10.9.0.2/24")
	require.Equal(t, "socket:"+sock, client.Mode())
	tr := &http.Transport{DialContext: client.Stack().Dial, DisableKeepAlives: true}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get("http://10.9.0.1/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "over the socket", string(body))

	require.NoError(t, server.Close())
	b, err := os.ReadFile(capture)
	require.NoError(t, err)
	require.Greater(t, len(b), pcap.FileHeaderLen+pcap.RecordHeaderLen)
	require.Equal(t, uint32(pcap.MagicMicroseconds), binary.LittleEndian.Uint32(b))
	require.Contains(t, string(b), "over the socket", "the HTTP response is in the capture")
}
