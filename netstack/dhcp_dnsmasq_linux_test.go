package netstack_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/tap"
)

// dnsmasqPeer runs dnsmasq as DHCP and DNS server on the kernel side of a TAP device in a
// network namespace made for the test, and returns the TAP link (the stack's side), dnsmasq's
// log and the lease file.
func dnsmasqPeer(t *testing.T) (*tap.Link, *netns.SyncBuffer, string) {
	t.Helper()
	peers.Root(t)
	dnsmasq := peers.Program(t, "dnsmasq", "dnsmasq-base")
	ns := netns.New(t)
	l, err := tap.Open(netns.UniqueName("ukdhcp"), nil)
	require.NoError(t, err)
	ns.MoveLink(t, l.Name())
	ns.AddAddr(t, l.Name(), netip.MustParsePrefix("10.77.0.1/24"))
	ns.LinkUp(t, l.Name())

	dir := t.TempDir()
	leases := filepath.Join(dir, "leases")
	_, out := ns.Start(t, dnsmasq,
		"--no-daemon", "--conf-file=/dev/null", "--user=root", "--group=root",
		"--pid-file="+filepath.Join(dir, "pid"), "--log-facility=-", "--log-dhcp", "--log-queries",
		"--interface="+l.Name(), "--bind-interfaces", "--except-interface=lo",
		"--dhcp-range=10.77.0.50,10.77.0.60,255.255.255.0,10m",
		"--dhcp-option=option:router,10.77.0.1",
		"--dhcp-option=option:mtu,1400",
		"--dhcp-leasefile="+leases,
		// No ICMP probe of an address before offering it: it delays the first OFFER by 3 s.
		"--no-ping",
		"--no-resolv", "--no-hosts",
		"--address=/unikit.test/10.77.0.99",
	)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq output:\n%s", out.String())
		}
	})
	// dnsmasq is ready once it has logged its DHCP range.
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "DHCP, IP range") }, 10*time.Second, 10*time.Millisecond,
		"dnsmasq did not start: %s", out)
	return l, out, leases
}

// TestDHCPDnsmasq takes a lease from dnsmasq over a TAP device, then resolves a name through
// the stack with the DNS server the lease names (dnsmasq itself).
func TestDHCPDnsmasq(t *testing.T) {
	l, out, leases := dnsmasqPeer(t)
	s, err := netstack.New(nil)
	require.NoError(t, err)
	defer s.Close()
	nic, err := s.AddNIC(l, nil)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = nic.WaitConfigured(ctx)
	require.NoError(t, err)
	lease, ok := nic.Lease()
	require.True(t, ok)
	addr := lease.Address.Addr()
	require.True(t, netip.MustParsePrefix("10.77.0.48/28").Contains(addr) && addr.As4()[3] >= 50 && addr.As4()[3] <= 60, "address %v outside dnsmasq's range", addr)
	require.Equal(t, 24, lease.Address.Bits())
	require.Equal(t, netip.MustParseAddr("10.77.0.1"), lease.Gateway)
	require.Equal(t, netip.MustParseAddr("10.77.0.1"), lease.Server)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.77.0.1")}, lease.DNS)
	require.Equal(t, 1400, lease.MTU)
	require.Equal(t, 1400, nic.MTU())
	require.Equal(t, 10*time.Minute, lease.Duration)

	// dnsmasq recorded the lease for our MAC.
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(leases)
		return strings.Contains(string(b), l.MAC().String()+" "+addr.String())
	}, 5*time.Second, 10*time.Millisecond, "lease file lacks %s %s", l.MAC(), addr)

	// DNS through the stack to dnsmasq, learned from the lease.
	hosts, err := s.Resolver().LookupHost(ctx, "www.unikit.test")
	require.NoError(t, err)
	require.Equal(t, []string{"10.77.0.99"}, hosts)
	require.Contains(t, out.String(), "www.unikit.test")
}

// TestDHCPDnsmasqRenewal runs the client on a test clock against dnsmasq: at T1 the unicast
// renewal is acknowledged by dnsmasq and the lease is extended without a new DISCOVER.
func TestDHCPDnsmasqRenewal(t *testing.T) {
	l, out, _ := dnsmasqPeer(t)
	s, err := netstack.New(nil)
	require.NoError(t, err)
	defer s.Close()
	nic, err := s.AddNIC(l, &netstack.NICConfig{NoDHCP: true})
	require.NoError(t, err)
	clk := netstack.NewTestClock()
	require.NoError(t, netstack.StartDHCPWithClock(nic, clk))

	var first netstack.Lease
	require.Eventually(t, func() bool {
		var ok bool
		first, ok = nic.Lease()
		return ok
	}, 30*time.Second, 10*time.Millisecond, "no lease from dnsmasq")
	require.Equal(t, 1, strings.Count(out.String(), "DHCPDISCOVER"))

	clk.Advance(first.T1)
	var l2 netstack.Lease
	require.Eventually(t, func() bool {
		l2, _ = nic.Lease()
		return l2.Acquired.After(first.Acquired)
	}, 30*time.Second, 10*time.Millisecond, "renewal not acknowledged")
	require.Equal(t, first.Address, l2.Address)
	require.Equal(t, 1, strings.Count(out.String(), "DHCPDISCOVER"), "renewal must not restart discovery")
	require.Equal(t, 2, strings.Count(out.String(), "DHCPACK"))
}
