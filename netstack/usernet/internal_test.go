package usernet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
)

var testMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}

func defaultConfig(t testing.TB) Config {
	c, err := (*Config)(nil).withDefaults()
	require.NoError(t, err)
	return c
}

func TestDHCPReply(t *testing.T) {
	c := defaultConfig(t)
	bcast := netip.MustParseAddrPort("255.255.255.255:68")
	discover, err := dhcpv4.NewDiscovery(testMAC)
	require.NoError(t, err)
	request := func(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(append([]dhcpv4.Modifier{
			dhcpv4.WithHwAddr(testMAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		}, mods...)...)
		require.NoError(t, err)
		return m
	}
	guestIP := net.IP(c.Guest.AsSlice())
	gwIP := net.IP(c.Gateway.AsSlice())

	for _, tc := range []struct {
		name   string
		msg    *dhcpv4.DHCPv4
		typ    dhcpv4.MessageType // 0: ignored
		dst    netip.AddrPort
		leased bool
	}{
		{"discover", discover, dhcpv4.MessageTypeOffer, bcast, true},
		{"request selecting", request(
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(guestIP)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gwIP))), dhcpv4.MessageTypeAck, bcast, true},
		{"request renewing", request(dhcpv4.WithClientIP(guestIP)), dhcpv4.MessageTypeAck,
			netip.AddrPortFrom(c.Guest, 68), true},
		{"request wrong address", request(
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 2, 99)))), dhcpv4.MessageTypeNak, bcast, false},
		{"request other server", request(
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(guestIP)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 2, 1)))), 0, netip.AddrPort{}, false},
		{"inform", request(dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithClientIP(guestIP)),
			dhcpv4.MessageTypeAck, netip.AddrPortFrom(c.Guest, 68), false},
		{"release", request(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithClientIP(guestIP)), 0, netip.AddrPort{}, false},
		{"reply from a client", request(dhcpv4.WithReply(discover)), 0, netip.AddrPort{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, dst, err := c.dhcpReply(tc.msg.ToBytes())
			if tc.typ == 0 {
				require.ErrorIs(t, err, errDHCPIgnore)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.dst, dst)
			r, err := dhcpv4.FromBytes(out)
			require.NoError(t, err)
			require.Equal(t, dhcpv4.OpcodeBootReply, r.OpCode)
			require.Equal(t, tc.msg.TransactionID, r.TransactionID)
			require.Equal(t, testMAC, r.ClientHWAddr)
			require.Equal(t, tc.typ, r.MessageType())
			require.True(t, r.ServerIdentifier().Equal(gwIP))
			if tc.typ == dhcpv4.MessageTypeNak {
				return
			}
			require.Equal(t, net.IPMask{255, 255, 255, 0}, r.SubnetMask())
			require.Len(t, r.Router(), 1)
			require.True(t, r.Router()[0].Equal(gwIP))
			require.Len(t, r.DNS(), 1)
			require.True(t, r.DNS()[0].Equal(net.IP(c.DNS.AsSlice())))
			mtu := r.GetOneOption(dhcpv4.OptionInterfaceMTU)
			require.Len(t, mtu, 2)
			require.Equal(t, uint16(1500), binary.BigEndian.Uint16(mtu))
			if tc.leased {
				require.True(t, r.YourIPAddr.Equal(guestIP))
				require.Equal(t, time.Hour, r.IPAddressLeaseTime(0))
				require.Equal(t, 30*time.Minute, r.IPAddressRenewalTime(0))
				require.Equal(t, 52*time.Minute+30*time.Second, r.IPAddressRebindingTime(0))
			} else {
				require.Equal(t, time.Duration(0), r.IPAddressLeaseTime(0))
			}
		})
	}

	for _, bad := range [][]byte{nil, {1}, make([]byte, 300)} {
		_, _, err := c.dhcpReply(bad)
		require.Error(t, err)
	}
}

func FuzzDHCPReply(f *testing.F) {
	c := defaultConfig(f)
	d, _ := dhcpv4.NewDiscovery(testMAC)
	f.Add(d.ToBytes())
	r, _ := dhcpv4.NewRequestFromOffer(d)
	f.Add(r.ToBytes())
	f.Add([]byte{1, 1, 6, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, dst, err := c.dhcpReply(b)
		if err != nil {
			return
		}
		// Whatever was accepted yields a parsable reply sent to the client port.
		_, perr := dhcpv4.FromBytes(out)
		require.NoError(t, perr)
		require.Equal(t, uint16(dhcpClientPort), dst.Port())
	})
}

func TestCheckDNSQuery(t *testing.T) {
	q := query(t, 7, "example.test.")
	h, err := checkDNSQuery(q)
	require.NoError(t, err)
	require.Equal(t, uint16(7), h.ID)

	resp := append([]byte(nil), q...)
	resp[2] |= 0x80 // QR: a response, not a query
	_, err = checkDNSQuery(resp)
	require.ErrorIs(t, err, errDNSNotQuery)

	two := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 8})
	two.StartQuestions()
	qq := dnsmessage.Question{Name: dnsmessage.MustNewName("a.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	two.Question(qq)
	two.Question(qq)
	b, _ := two.Finish()
	_, err = checkDNSQuery(b)
	require.ErrorIs(t, err, errDNSNotQuery)

	for _, bad := range [][]byte{nil, q[:5], q[:14]} {
		_, err := checkDNSQuery(bad)
		require.ErrorIs(t, err, errDNSNotQuery)
	}
}

func TestDNSError(t *testing.T) {
	q := query(t, 9, "example.test.")
	r := dnsError(q, dnsmessage.RCodeServerFailure)
	var p dnsmessage.Parser
	h, err := p.Start(r)
	require.NoError(t, err)
	require.Equal(t, uint16(9), h.ID)
	require.True(t, h.Response)
	require.True(t, h.RecursionDesired)
	require.Equal(t, dnsmessage.RCodeServerFailure, h.RCode)
	qs, err := p.AllQuestions()
	require.NoError(t, err)
	require.Len(t, qs, 1)
	require.Equal(t, "example.test.", qs[0].Name.String())

	require.Nil(t, dnsError(q[:3], dnsmessage.RCodeFormatError))
}

func query(t testing.TB, id uint16, name string) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	require.NoError(t, b.StartQuestions())
	require.NoError(t, b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}))
	q, err := b.Finish()
	require.NoError(t, err)
	return q
}

func FuzzDNSQuery(f *testing.F) {
	f.Add(query(f, 1, "example.test."))
	f.Add([]byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := checkDNSQuery(b)
		for _, rc := range []dnsmessage.RCode{dnsmessage.RCodeFormatError, dnsmessage.RCodeServerFailure} {
			r := dnsError(b, rc)
			if r == nil {
				continue
			}
			var p dnsmessage.Parser
			rh, perr := p.Start(r)
			require.NoError(t, perr)
			require.True(t, rh.Response)
			if err == nil {
				require.Equal(t, h.ID, rh.ID)
			}
		}
	})
}

func TestParseResolvConf(t *testing.T) {
	got := parseResolvConf(strings.NewReader(`# generated
search example.org
nameserver 127.0.0.53
nameserver   192.0.2.1 # trailing
nameserver fe80::1%eth0
nameserver bogus
options edns0
nameserver
`))
	require.Equal(t, []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.53:53"),
		netip.MustParseAddrPort("192.0.2.1:53"),
		netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 53),
	}, got)
}
