package kernelnet

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ack returns a DHCPACK as QEMU's user-mode network sends it, changed by mods.
func ack(t *testing.T, yiaddr string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.ParseIP(yiaddr)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.ParseIP("10.0.2.2")),
		dhcpv4.WithDNS(net.ParseIP("10.0.2.3")),
		dhcpv4.WithServerIP(net.ParseIP("10.0.2.2")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.2.2"))),
		dhcpv4.WithLeaseTime(86400),
	}
	m, err := dhcpv4.New(append(base, mods...)...)
	require.NoError(t, err)
	return m
}

func TestLeaseFromACK(t *testing.T) {
	l, err := leaseFromACK(ack(t, "10.0.2.15"))
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("10.0.2.15/24"), l.Addr)
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), l.Gateway)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.2.3")}, l.DNS)
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), l.Server)
	assert.Equal(t, 24*time.Hour, l.Duration)
	assert.Equal(t, 12*time.Hour, renewAfter(l.Duration))
	assert.Equal(t, "# written by the appliance from its DHCP lease\nnameserver 10.0.2.3\n", resolvConf(l.DNS))
	assert.Empty(t, resolvConf(nil))

	t.Run("gateway outside the subnet is not used", func(t *testing.T) {
		l, err := leaseFromACK(ack(t, "10.0.2.15", dhcpv4.WithRouter(net.ParseIP("192.0.2.1"))))
		require.NoError(t, err)
		assert.False(t, l.Gateway.IsValid())
	})
	t.Run("no mask: the classful one", func(t *testing.T) {
		m := ack(t, "10.0.2.15")
		m.Options.Del(dhcpv4.OptionSubnetMask)
		l, err := leaseFromACK(m)
		require.NoError(t, err)
		assert.Equal(t, netip.MustParsePrefix("10.0.2.15/8"), l.Addr)
	})
	t.Run("short lease: renewed after a minute at the soonest", func(t *testing.T) {
		l, err := leaseFromACK(ack(t, "10.0.2.15", dhcpv4.WithLeaseTime(30)))
		require.NoError(t, err)
		assert.Equal(t, time.Minute, renewAfter(l.Duration))
	})
}

func TestLeaseFromACKRefuses(t *testing.T) {
	for name, m := range map[string]*dhcpv4.DHCPv4{
		"no address":        ack(t, "0.0.0.0"),
		"multicast":         ack(t, "224.0.0.1"),
		"loopback":          ack(t, "127.0.0.1"),
		"subnet address":    ack(t, "10.0.2.0"),
		"broadcast address": ack(t, "10.0.2.255"),
		"host mask":         ack(t, "10.0.2.15", dhcpv4.WithNetmask(net.CIDRMask(32, 32))),
		"non-prefix mask":   ack(t, "10.0.2.15", dhcpv4.WithNetmask(net.IPv4Mask(255, 0, 255, 0))),
	} {
		_, err := leaseFromACK(m)
		require.Error(t, err, name)
	}
	_, err := leaseFromACK(nil)
	require.Error(t, err)
}

// FuzzLeaseFromACK feeds leaseFromACK whatever parses as a DHCP message: a lease it accepts
// is a usable interface configuration.
func FuzzLeaseFromACK(f *testing.F) {
	m, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.ParseIP("10.0.2.15")),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithRouter(net.ParseIP("10.0.2.2")),
		dhcpv4.WithDNS(net.ParseIP("10.0.2.3")), dhcpv4.WithLeaseTime(86400))
	require.NoError(f, err)
	f.Add(m.ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		l, err := leaseFromACK(m)
		if err != nil {
			return
		}
		require.True(t, l.Addr.Addr().Is4() && l.Addr.Addr().IsGlobalUnicast())
		require.True(t, l.Addr.Bits() >= 1 && l.Addr.Bits() <= 30)
		require.NotEqual(t, l.Addr.Masked().Addr(), l.Addr.Addr())
		require.Positive(t, l.Duration)
		if l.Gateway.IsValid() {
			require.True(t, l.Addr.Contains(l.Gateway))
		}
	})
}
