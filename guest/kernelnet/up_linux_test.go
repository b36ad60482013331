package kernelnet

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// TestUpDnsmasq configures a kernel interface the way -net kernel does inside a VM, against
// dnsmasq as the DHCP server: a veth pair joins a namespace standing for the VM (its only
// Ethernet interface is found by itself, no module is loaded) and one where dnsmasq serves
// 10.78.0.0/24 with a router and a name server. Up must leave the interface with the lease's
// address, a default route through the router, resolv.conf naming the server and the loopback
// up; a TCP connection from dnsmasq's side to a listener in the VM's namespace then carries
// data both ways.
func TestUpDnsmasq(t *testing.T) {
	peers.Root(t)
	dnsmasq := peers.Program(t, "dnsmasq", "dnsmasq-base")
	srv, vm := netns.New(t), netns.New(t)
	a, b := netns.Veth(t, srv, vm)
	srv.AddAddr(t, a, netip.MustParsePrefix("10.78.0.1/24"))
	dir := t.TempDir()
	_, out := srv.Start(t, dnsmasq,
		"--no-daemon", "--conf-file=/dev/null", "--user=root", "--group=root",
		"--pid-file="+filepath.Join(dir, "pid"), "--log-facility=-", "--log-dhcp",
		"--interface="+a, "--bind-interfaces", "--except-interface=lo",
		"--dhcp-range=10.78.0.50,10.78.0.60,255.255.255.0,10m",
		"--dhcp-option=option:router,10.78.0.1",
		"--dhcp-option=option:dns-server,10.78.0.1",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--no-ping", "--no-resolv", "--no-hosts",
	)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "DHCP, IP range") },
		10*time.Second, 10*time.Millisecond, "dnsmasq did not start: %s", out)
	defer func() {
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", out.String())
		}
	}()

	resolv := filepath.Join(dir, "etc", "resolv.conf")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		iface *Interface
		ln    net.Listener
	)
	require.NoError(t, vm.Do(func() error {
		var err error
		iface, err = Up(ctx, &Config{Modules: []string{}, ResolvConf: resolv,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return err
		}
		ln, err = net.Listen("tcp", ":0")
		return err
	}))
	defer iface.Close()
	defer ln.Close()

	l := iface.Lease()
	assert.Equal(t, b, iface.Name(), "the only Ethernet interface is found without being named")
	assert.True(t, netip.MustParsePrefix("10.78.0.48/28").Contains(l.Addr.Addr()) && l.Addr.Addr().As4()[3] >= 50,
		"address %v outside dnsmasq's range", l.Addr)
	assert.Equal(t, 24, l.Addr.Bits())
	assert.Equal(t, netip.MustParseAddr("10.78.0.1"), l.Gateway)
	assert.Equal(t, netip.MustParseAddr("10.78.0.1"), l.Server)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.78.0.1")}, l.DNS)
	assert.Equal(t, 10*time.Minute, l.Duration)
	conf, err := os.ReadFile(resolv)
	require.NoError(t, err)
	assert.Contains(t, string(conf), "nameserver 10.78.0.1\n")

	assert.Contains(t, vm.IP(t, "-4", "addr", "show", "dev", b), "inet "+l.Addr.String())
	assert.Contains(t, vm.IP(t, "-4", "route", "show", "default"), "default via 10.78.0.1 dev "+b)
	assert.Contains(t, vm.IP(t, "link", "show", "lo"), ",UP")

	// Data both ways between dnsmasq's namespace and the configured interface.
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		if _, err = io.ReadFull(c, buf); err == nil {
			_, err = c.Write(append([]byte("re: "), buf...))
		}
		accepted <- err
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, srv.Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(l.Addr.Addr(), uint16(port)).String(), 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		reply, err := io.ReadAll(c)
		if err == nil && string(reply) != "re: hello" {
			t.Errorf("reply %q", reply)
		}
		return err
	}))
	require.NoError(t, <-accepted)
	require.NoError(t, iface.Close())
	require.NoError(t, iface.Close(), "Close is idempotent")
}
