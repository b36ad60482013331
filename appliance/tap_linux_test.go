package appliance_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/appliance"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// TestTAPStatic opens -net tap:NAME,create -ip with a capture (creating the device), moves it into a namespace
// made for the test and fetches the page with curl from the kernel's side.
func TestTAPStatic(t *testing.T) {
	peers.Root(t)
	curl := peers.Program(t, "curl", "curl")
	ns := netns.New(t)
	name := netns.UniqueName("uknf")
	capture := filepath.Join(t.TempDir(), "tap.pcap")
	n := open(t, "-net", "tap:"+name+",create", "-ip", "10.78.0.2/24", "-gw", "10.78.0.1", "-pcap", capture)
	require.Equal(t, netip.MustParseAddrPort("10.78.0.2:80"), n.Addr(80))
	require.Equal(t, "tap:"+name+",create", n.Mode())
	serve(t, n, "hello over tap")

	ns.MoveLink(t, name)
	ns.AddAddr(t, name, netip.MustParsePrefix("10.78.0.1/24"))
	ns.LinkUp(t, name)
	out := ns.Exec(t, curl, "-sS", "--max-time", "10", "http://10.78.0.2/")
	require.Equal(t, "hello over tap", out)

	// The capture holds the exchange, as tshark reads it: the response's payload from the
	// stack's address. (Not the HTTP dissection: a transmitted frame is recorded after the
	// TAP took it, so the peer's ACK can precede it in the file, and tshark then calls the
	// frame a retransmission and does not dissect it.)
	tshark := peers.Program(t, "tshark", "tshark")
	require.NoError(t, n.Close())
	dump, err := exec.Command(tshark, "-r", capture, "-Y", "ip.src == 10.78.0.2 && tcp.len > 0",
		"-T", "fields", "-e", "tcp.payload").CombinedOutput()
	require.NoError(t, err, "%s", dump)
	require.Contains(t, string(dump), hex.EncodeToString([]byte("hello over tap")))
}

// TestTAPDHCP opens -net tap:NAME without -ip inside a namespace where dnsmasq serves DHCP on
// that TAP device: Open returns once the stack holds dnsmasq's lease, and curl reaches the
// page at the leased address.
func TestTAPDHCP(t *testing.T) {
	peers.Root(t)
	curl := peers.Program(t, "curl", "curl")
	dnsmasq := peers.Program(t, "dnsmasq", "dnsmasq-base")
	ns := netns.New(t)
	name := netns.UniqueName("uknf")
	ns.AddTAP(t, name, true)
	ns.AddAddr(t, name, netip.MustParsePrefix("10.79.0.1/24"))
	ns.LinkUp(t, name)
	dir := t.TempDir()
	_, log := ns.Start(t, dnsmasq,
		"--no-daemon", "--conf-file=/dev/null", "--user=root", "--group=root",
		"--pid-file="+filepath.Join(dir, "pid"), "--log-facility=-", "--log-dhcp",
		"--interface="+name, "--bind-interfaces", "--except-interface=lo",
		"--dhcp-range=10.79.0.50,10.79.0.60,255.255.255.0,10m",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--no-ping", "--no-resolv", "--no-hosts", "--port=0",
	)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq output:\n%s", log.String())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "DHCP, IP range") },
		10*time.Second, 10*time.Millisecond, "dnsmasq did not start")

	f, err := parse(t, "-net", "tap:"+name)
	require.NoError(t, err)
	var n *appliance.Network
	// The TAP device lives in the namespace: attach to it from there.
	require.NoError(t, ns.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		n, err = f.Open(ctx, 80)
		return err
	}))
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	addr := n.Addr(80).Addr()
	require.True(t, netip.MustParsePrefix("10.79.0.0/24").Contains(addr), "address %v not from dnsmasq", addr)
	serve(t, n, "hello over dhcp")
	out := ns.Exec(t, curl, "-sS", "--max-time", "10", "http://"+n.Addr(80).String()+"/")
	require.Equal(t, "hello over dhcp", out)
}

// TestTAPMissing opens -net tap:NAME for a device that does not exist, as root in a fresh
// namespace: Open refuses at once, says how to create the device, and creates nothing.
func TestTAPMissing(t *testing.T) {
	peers.Root(t)
	ns := netns.New(t)
	name := netns.UniqueName("uknf")
	f, err := parse(t, "-net", "tap:"+name)
	require.NoError(t, err)
	start := time.Now()
	err = ns.Do(func() error {
		n, err := f.Open(context.Background(), 80)
		if err == nil {
			n.Close()
		}
		return err
	})
	require.Error(t, err)
	require.Less(t, time.Since(start), time.Second)
	require.ErrorContains(t, err, "-net tap:"+name)
	require.ErrorContains(t, err, "ip tuntap add dev "+name)
	require.ErrorContains(t, err, "tap:"+name+",create")
	require.NotContains(t, ns.IP(t, "-o", "link", "show"), name, "a device was created")
}

// TestTAPCreateWithoutDHCP opens -net tap:NAME,create without -ip, as root in a fresh
// namespace: the device is created with nothing behind it, so no lease comes; Open says it is
// waiting for one, and when its deadline passes, that no DHCP server answered.
func TestTAPCreateWithoutDHCP(t *testing.T) {
	peers.Root(t)
	ns := netns.New(t)
	name := netns.UniqueName("uknf")
	f, err := parse(t, "-net", "tap:"+name+",create")
	require.NoError(t, err)
	var logged bytes.Buffer
	f.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	err = ns.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		n, err := f.Open(ctx, 80)
		if err == nil {
			n.Close()
		}
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "no DHCP lease on -net tap:"+name+",create")
	require.ErrorContains(t, err, "-ip CIDR")
	require.Contains(t, logged.String(), "no DHCP lease yet, still waiting")
	require.Contains(t, logged.String(), "net=tap:"+name+",create")
}
