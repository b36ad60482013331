package tap_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/tap"
)

// The kernel's and the stack's addresses on the TAP segment in the test namespace.
var (
	kernel4 = netip.MustParsePrefix("10.78.0.1/24")
	stack4  = netip.MustParsePrefix("10.78.0.2/24")
	kernel6 = netip.MustParsePrefix("fd00:78::1/64")
	stack6  = netip.MustParsePrefix("fd00:78::2/64")
)

// kernelSegment is a stack attached to a TAP link whose kernel side lives in a namespace the
// test created, with the Linux kernel's TCP/IP as the peer.
//
// The kernel side of the traffic runs either as a program under `ip netns exec` (ping, curl,
// iperf3) or as Go code whose sockets were created inside the namespace with netns.NS.Do: a
// socket belongs to the namespace it was created in, so the test process keeps its own
// namespace while those sockets use the kernel's TCP/IP in the test namespace.
type kernelSegment struct {
	ns    *netns.NS
	link  *tap.Link
	stack *netstack.Stack
	nic   *netstack.NIC
}

func newKernelSegment(t testing.TB, cfg *tap.Config) *kernelSegment {
	t.Helper()
	peers.Root(t)
	ns := netns.New(t)
	l, err := tap.Open(netns.UniqueName("uktap"), cfg)
	require.NoError(t, err)
	// The TAP fd stays in the test's namespace; the kernel's side of the device moves.
	ns.MoveLink(t, l.Name())
	ns.AddAddr(t, l.Name(), kernel4)
	ns.AddAddr(t, l.Name(), kernel6)
	if cfg != nil && cfg.MTU != 0 {
		ns.SetMTU(t, l.Name(), cfg.MTU)
	}
	ns.LinkUp(t, l.Name())

	s, err := netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	nic, err := s.AddNIC(l, &netstack.NICConfig{Addresses: []netip.Prefix{stack4, stack6}, NoDHCP: true})
	require.NoError(t, err)
	return &kernelSegment{ns: ns, link: l, stack: s, nic: nic}
}

// kernelListen listens on a kernel TCP socket inside the namespace.
func (k *kernelSegment) kernelListen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	require.NoError(t, k.ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	return ln
}

// kernelDial dials from a kernel TCP socket inside the namespace.
func (k *kernelSegment) kernelDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	require.NoError(t, k.ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStackPing(t *testing.T) {
	k := newKernelSegment(t, nil)
	ping := peers.Program(t, "ping", "iputils-ping")
	for _, dst := range []string{stack4.Addr().String(), stack6.Addr().String()} {
		out, err := k.ns.Command(context.Background(), ping, "-c", "3", "-i", "0.2", "-W", "5", dst).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "3 received", dst)
	}
}

// TestStackHTTPWithCurl serves HTTP from the stack and fetches it with curl in the namespace.
func TestStackHTTPWithCurl(t *testing.T) {
	k := newKernelSegment(t, nil)
	curl := peers.Program(t, "curl", "curl")
	ln, err := k.stack.Listen("tcp", ":8080")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from the stack", r.URL.Path)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	for _, host := range []string{stack4.Addr().String(), "[" + stack6.Addr().String() + "]"} {
		out, err := k.ns.Command(context.Background(), curl, "-sS", "--max-time", "10",
			"http://"+host+":8080/x").CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "hello /x from the stack", string(out))
	}
}

const bulkSize = 16 << 20

// sendAll writes data to c and closes its write side.
func sendAll(c net.Conn, data []byte) error {
	if _, err := c.Write(data); err != nil {
		return err
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// digestOf reads c to EOF and returns the SHA-256 of what it read.
func digestOf(c net.Conn) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, c, make([]byte, 256<<10))
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// transfer sends data from src to dst and checks the digest on arrival.
func transfer(t *testing.T, src, dst net.Conn, data []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- sendAll(src, data) }()
	require.NoError(t, dst.SetReadDeadline(time.Now().Add(60*time.Second)))
	sum, n, err := digestOf(dst)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.Equal(t, int64(len(data)), n)
	require.Equal(t, sha256.Sum256(data), sum, "digest")
}

// TestStackTCPBulk moves 16 MiB in each direction over TCP between the stack and the kernel,
// over IPv4 and IPv6, with the stack as server and as client, and checks the digests. With
// offloads on, it then checks that TSO frames (stack to kernel) and GRO frames (kernel to
// stack) actually crossed the link.
func TestStackTCPBulk(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *tap.Config
	}{
		{"offload", nil},
		{"offload-complete-checksums", &tap.Config{CompleteChecksums: true}},
		{"no-offload", &tap.Config{NoOffload: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernelSegment(t, tc.cfg)
			data := make([]byte, bulkSize)
			_, _ = rand.Read(data)
			for _, fam := range []struct {
				name          string
				kernel, stack netip.Addr
			}{{"v4", kernel4.Addr(), stack4.Addr()}, {"v6", kernel6.Addr(), stack6.Addr()}} {
				t.Run(fam.name, func(t *testing.T) {
					// The stack listens, the kernel dials.
					ln, err := k.stack.Listen("tcp", netip.AddrPortFrom(fam.stack, 0).String())
					require.NoError(t, err)
					defer ln.Close()
					kc := k.kernelDial(t, ln.Addr().String())
					sc, err := ln.Accept()
					require.NoError(t, err)
					defer sc.Close()
					transfer(t, kc, sc, data) // kernel -> stack
					// The kernel listens, the stack dials.
					kln := k.kernelListen(t, netip.AddrPortFrom(fam.kernel, 0).String())
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					sc2, err := k.stack.Dial(ctx, "tcp", kln.Addr().String())
					require.NoError(t, err)
					defer sc2.Close()
					kc2, err := kln.Accept()
					require.NoError(t, err)
					defer kc2.Close()
					transfer(t, sc2, kc2, data) // stack -> kernel
				})
			}
			os := k.link.OffloadStats()
			st := k.link.Stats()
			t.Logf("link stats %+v offload stats %+v", st, os)
			require.Zero(t, st.RxDropped)
			if tc.cfg == nil || !tc.cfg.NoOffload {
				require.NotZero(t, os.TxGSO, "TSO frames from the stack")
				require.NotZero(t, os.RxGSO, "GRO/TSO frames from the kernel")
				require.NotZero(t, os.RxNeedsCsum+os.RxDataValid, "checksum offload from the kernel")
			} else {
				require.Zero(t, os.RxGSO)
				require.Zero(t, os.RxNeedsCsum)
			}
		})
	}
}

// TestStackNeighbourDiscovery checks that IPv6 neighbour discovery works both ways: the
// kernel learns the stack's MAC (and the stack the kernel's) without static entries.
func TestStackNeighbourDiscovery(t *testing.T) {
	k := newKernelSegment(t, nil)
	ln, err := k.stack.Listen("tcp6", "[::]:7000")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = c.Write([]byte("v6 ok"))
			c.Close()
		}
	}()
	c := k.kernelDial(t, netip.AddrPortFrom(stack6.Addr(), 7000).String())
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "v6 ok", string(b))
	neigh := k.ns.IP(t, "-6", "neigh", "show", "dev", k.link.Name())
	require.Contains(t, strings.ToLower(neigh), strings.ToLower(k.link.MAC().String()))
}

// TestStackSLAAC runs radvd on the kernel's side of the TAP, advertising a prefix, and checks
// that the stack configures an address in it by SLAAC and that the kernel reaches that address.
func TestStackSLAAC(t *testing.T) {
	k := newKernelSegment(t, nil)
	radvd := peers.Program(t, "radvd", "radvd")
	prefix := netip.MustParsePrefix("fd00:79::/64")
	k.ns.Exec(t, peers.Program(t, "sysctl", "procps"), "-q", "-w", "net.ipv6.conf.all.forwarding=1")
	// The router's own address in the prefix gives the kernel its on-link route.
	k.ns.AddAddr(t, k.link.Name(), netip.MustParsePrefix("fd00:79::1/64"))
	dir := t.TempDir()
	conf := dir + "/radvd.conf"
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	prefix %s { AdvOnLink on; AdvAutonomous on; };
};
`, k.link.Name(), prefix)), 0o644))
	_, out := k.ns.Start(t, radvd, "-n", "-m", "stderr", "-C", conf, "-p", dir+"/radvd.pid")

	var got netip.Addr
	require.Eventually(t, func() bool {
		for _, p := range k.nic.Addresses() {
			if prefix.Contains(p.Addr()) {
				got = p.Addr()
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "no SLAAC address; radvd: %s", out)
	// The stack installs the on-link route the RA announced (its NDP dispatcher); without it
	// it could not answer neighbour solicitations from fd00:79::1.
	ping := peers.Program(t, "ping", "iputils-ping")
	res, err := k.ns.Command(context.Background(), ping, "-c", "2", "-i", "0.2", "-W", "5", got.String()).CombinedOutput()
	require.NoError(t, err, "%s", res)
	require.Contains(t, string(res), "2 received")
}
