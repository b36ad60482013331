package netstack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
)

// TestStaticNICDeliversNoLinkPackets checks that only a NIC that may run the DHCP client
// feeds packet endpoints: a NIC created with static addresses exchanges datagrams normally
// while a packet endpoint on it sees none of them, and a NIC created without addresses
// (where the DHCP client's packet endpoint needs them) sees them after an address is added.
func TestStaticNICDeliversNoLinkPackets(t *testing.T) {
	la, lb := newChanPair(1500, 0)
	a, err := netstack.New(nil)
	require.NoError(t, err)
	b, err := netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	static, err := a.AddNIC(la, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	require.NoError(t, err)
	dynamic, err := b.AddNIC(lb, &netstack.NICConfig{NoDHCP: true})
	require.NoError(t, err)
	require.NoError(t, dynamic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")))

	staticSeen, closeStatic := netstack.CountLinkPackets(static)
	defer closeStatic()
	dynamicSeen, closeDynamic := netstack.CountLinkPackets(dynamic)
	defer closeDynamic()

	pc, err := b.ListenPacket("udp", ":9")
	require.NoError(t, err)
	defer pc.Close()
	cc, err := a.Dial(t.Context(), "udp", "10.0.0.2:9")
	require.NoError(t, err)
	defer cc.Close()
	buf := make([]byte, 2048)
	for range 3 {
		_, err := cc.Write([]byte("ping"))
		require.NoError(t, err)
		require.NoError(t, pc.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, from, err := pc.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, "ping", string(buf[:n]))
		_, err = pc.WriteTo([]byte("pong"), from)
		require.NoError(t, err)
		require.NoError(t, cc.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, err = cc.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "pong", string(buf[:n]))
	}
	// Three datagrams each way and the ARP exchange crossed both NICs.
	require.Zero(t, staticSeen(), "packets delivered to a packet endpoint on the static NIC")
	require.GreaterOrEqual(t, dynamicSeen(), 3, "packets delivered to a packet endpoint on the NIC without static addresses")
}
