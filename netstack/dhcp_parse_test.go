package netstack

import (
	"encoding/binary"
	"github.com/unikit/unikit/internal/allocs"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	testMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	testServer = netip.MustParseAddr("10.0.0.1")
)

// testReply builds a server reply to testMAC with the given message type and modifiers.
func testReply(t testing.TB, typ dhcpv4.MessageType, mods ...dhcpv4.Modifier) []byte {
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{
		dhcpv4.WithHwAddr(testMAC),
		dhcpv4.WithMessageType(typ),
		func(d *dhcpv4.DHCPv4) { d.OpCode = dhcpv4.OpcodeBootReply },
	}, mods...)...)
	require.NoError(t, err)
	return m.ToBytes()
}

func leaseOpts(secs uint32) []dhcpv4.Modifier {
	return []dhcpv4.Modifier{
		dhcpv4.WithYourIP(net.IPv4(10, 0, 0, 100)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithGeneric(dhcpv4.OptionIPAddressLeaseTime, binary.BigEndian.AppendUint32(nil, secs)),
	}
}

func TestParseDHCPReplyACK(t *testing.T) {
	b := testReply(t, dhcpv4.MessageTypeAck, append(leaseOpts(7200),
		dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(0, 0, 0, 0), net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptDNS(net.IPv4(10, 0, 0, 53), net.IPv4(224, 0, 0, 1), net.IPv4(10, 0, 0, 53), net.IPv4(10, 0, 0, 54))),
		dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0xdc}),
		dhcpv4.WithGeneric(dhcpv4.OptionRenewTimeValue, binary.BigEndian.AppendUint32(nil, 600)),
	)...)
	r, err := parseDHCPReply(b, testMAC, netip.MustParseAddr("10.9.9.9"))
	require.NoError(t, err)
	require.Equal(t, dhcpv4.MessageTypeAck, r.typ)
	require.Equal(t, testServer, r.server, "option 54 wins over the source address")
	l := r.lease
	require.Equal(t, netip.MustParsePrefix("10.0.0.100/24"), l.Address)
	require.Equal(t, testServer, l.Gateway, "0.0.0.0 is skipped as a router")
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54")}, l.DNS)
	require.Equal(t, 1500, l.MTU)
	require.Equal(t, 2*time.Hour, l.Duration)
	require.Equal(t, 10*time.Minute, l.T1)
	require.Equal(t, 2*time.Hour*7/8, l.T2)
	require.Equal(t, []dhcpRoute{{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: testServer}}, r.routes)
}

func TestParseDHCPReplyInfinite(t *testing.T) {
	r, err := parseDHCPReply(testReply(t, dhcpv4.MessageTypeAck, leaseOpts(0xffffffff)...), testMAC, netip.Addr{})
	require.NoError(t, err)
	require.True(t, r.lease.Infinite)
	require.Zero(t, r.lease.T1)
}

func TestParseDHCPReplyTimes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		lease, t1, t2  uint32
		wantT1, wantT2 time.Duration
		wantDuration   time.Duration
	}{
		{"defaults", 1000, 0, 0, 500 * time.Second, 875 * time.Second, 1000 * time.Second},
		{"server", 1000, 100, 200, 100 * time.Second, 200 * time.Second, 1000 * time.Second},
		{"t2 beyond lease", 1000, 100, 5000, 100 * time.Second, 875 * time.Second, 1000 * time.Second},
		{"t1 beyond t2", 1000, 900, 800, 500 * time.Second, 800 * time.Second, 1000 * time.Second},
		{"zero lease", 0, 0, 0, dhcpMinLease / 2, dhcpMinLease * 7 / 8, dhcpMinLease},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mods := leaseOpts(tc.lease)
			if tc.t1 != 0 {
				mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionRenewTimeValue, binary.BigEndian.AppendUint32(nil, tc.t1)))
			}
			if tc.t2 != 0 {
				mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionRebindingTimeValue, binary.BigEndian.AppendUint32(nil, tc.t2)))
			}
			r, err := parseDHCPReply(testReply(t, dhcpv4.MessageTypeAck, mods...), testMAC, netip.Addr{})
			require.NoError(t, err)
			require.Equal(t, tc.wantDuration, r.lease.Duration)
			require.Equal(t, tc.wantT1, r.lease.T1)
			require.Equal(t, tc.wantT2, r.lease.T2)
		})
	}
}

func TestParseDHCPReplyRejects(t *testing.T) {
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	for _, tc := range []struct {
		name string
		b    []byte
		src  netip.Addr
	}{
		{"empty", nil, testServer},
		{"truncated", testReply(t, dhcpv4.MessageTypeAck, leaseOpts(60)...)[:100], testServer},
		{"request", func() []byte {
			m, _ := dhcpv4.NewDiscovery(testMAC)
			return m.ToBytes()
		}(), testServer},
		{"other client", testReply(t, dhcpv4.MessageTypeAck, append(leaseOpts(60), dhcpv4.WithHwAddr(other))...), testServer},
		{"discover type", testReply(t, dhcpv4.MessageTypeDiscover, leaseOpts(60)...), testServer},
		{"no address", testReply(t, dhcpv4.MessageTypeAck, append(leaseOpts(60), dhcpv4.WithYourIP(net.IPv4zero))...), testServer},
		{"broadcast address", testReply(t, dhcpv4.MessageTypeOffer, append(leaseOpts(60), dhcpv4.WithYourIP(net.IPv4bcast))...), testServer},
		{"multicast address", testReply(t, dhcpv4.MessageTypeOffer, append(leaseOpts(60), dhcpv4.WithYourIP(net.IPv4(239, 1, 1, 1)))...), testServer},
		{"bad mask", testReply(t, dhcpv4.MessageTypeAck, append(leaseOpts(60), dhcpv4.WithGeneric(dhcpv4.OptionSubnetMask, []byte{255, 0, 255, 0}))...), testServer},
		{"no lease time", testReply(t, dhcpv4.MessageTypeAck, append(leaseOpts(60), dhcpv4.WithoutOption(dhcpv4.OptionIPAddressLeaseTime))...), testServer},
		{"no server", testReply(t, dhcpv4.MessageTypeAck, append(leaseOpts(60), dhcpv4.WithoutOption(dhcpv4.OptionServerIdentifier))...), netip.Addr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDHCPReply(tc.b, testMAC, tc.src)
			require.Error(t, err)
		})
	}
}

func TestParseDHCPReplyNAK(t *testing.T) {
	r, err := parseDHCPReply(testReply(t, dhcpv4.MessageTypeNak,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptMessage("wrong network"))), testMAC, netip.Addr{})
	require.NoError(t, err)
	require.Equal(t, dhcpv4.MessageTypeNak, r.typ)
	require.Equal(t, testServer, r.server)
	require.Equal(t, "wrong network", r.msg)
}

func TestParseDHCPReplyServerFromSource(t *testing.T) {
	src := netip.MustParseAddr("10.0.0.2")
	r, err := parseDHCPReply(testReply(t, dhcpv4.MessageTypeOffer,
		append(leaseOpts(60), dhcpv4.WithoutOption(dhcpv4.OptionServerIdentifier))...), testMAC, src)
	require.NoError(t, err)
	require.Equal(t, src, r.server)
}

func TestParseDHCPReplyClasslessRoutes(t *testing.T) {
	// RFC 3442: 10.1.0.0/16 via 10.0.0.254, 0.0.0.0/0 via 192.168.7.1 (outside the subnet, so
	// it gets an on-link host route first), and 10.0.0.0/24 on-link (the subnet route the
	// address brings anyway). The router option is then ignored.
	opt := []byte{
		16, 10, 1, 10, 0, 0, 254,
		0, 192, 168, 7, 1,
		24, 10, 0, 0, 0, 0, 0, 0,
	}
	r, err := parseDHCPReply(testReply(t, dhcpv4.MessageTypeAck, append(leaseOpts(60),
		dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithGeneric(dhcpv4.OptionClasslessStaticRoute, opt))...), testMAC, netip.Addr{})
	require.NoError(t, err)
	require.Equal(t, []dhcpRoute{
		{dst: netip.MustParsePrefix("10.1.0.0/16"), gw: netip.MustParseAddr("10.0.0.254")},
		{dst: netip.MustParsePrefix("192.168.7.1/32")},
		{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.MustParseAddr("192.168.7.1")},
	}, r.routes)

	require.Nil(t, parseClasslessRoutes([]byte{33, 1, 2, 3, 4, 5, 6, 7, 8}), "prefix length over 32")
	require.Nil(t, parseClasslessRoutes([]byte{24, 10, 0}), "truncated")
}

func TestPrefixLenClassful(t *testing.T) {
	for addr, want := range map[string]int{"10.1.2.3": 8, "172.16.0.1": 16, "192.168.1.1": 24} {
		got, err := prefixLen(nil, netip.MustParseAddr(addr))
		require.NoError(t, err)
		require.Equal(t, want, got, addr)
	}
}

func TestDHCPSchedules(t *testing.T) {
	now := time.Unix(0, 0)
	for i, base := range []time.Duration{4, 8, 16, 32, 64, 64, 64} {
		d := discoverSchedule(i, now)
		require.InDelta(t, float64(base*time.Second), float64(d), float64(time.Second), "attempt %d", i)
	}
	require.Zero(t, requestSchedule(dhcpRequestTries, now))
	require.NotZero(t, requestSchedule(dhcpRequestTries-1, now))

	until := untilSchedule(now.Add(1000 * time.Second))
	require.Equal(t, 500*time.Second, until(0, now))
	require.Equal(t, 60*time.Second, until(0, now.Add(900*time.Second)), "at least 60 s")
	require.Equal(t, 30*time.Second, until(0, now.Add(970*time.Second)), "never past the deadline")
	require.Zero(t, until(0, now.Add(1000*time.Second)))
}

// FuzzDHCPReply feeds arbitrary bytes to the parser of server replies, the client's only
// input from the network: it must never panic, and what it accepts must be usable.
func FuzzDHCPReply(f *testing.F) {
	f.Add(testReply(f, dhcpv4.MessageTypeAck, leaseOpts(3600)...))
	f.Add(testReply(f, dhcpv4.MessageTypeOffer, append(leaseOpts(0xffffffff),
		dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptDNS(net.IPv4(10, 0, 0, 53))),
		dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0x78}),
		dhcpv4.WithGeneric(dhcpv4.OptionClasslessStaticRoute, []byte{16, 10, 1, 10, 0, 0, 254, 0, 10, 0, 0, 1}))...))
	f.Add(testReply(f, dhcpv4.MessageTypeNak, dhcpv4.WithOption(dhcpv4.OptMessage("no"))))
	f.Add([]byte{2, 1, 6, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseDHCPReply(b, testMAC, testServer)
		if err != nil {
			return
		}
		switch r.typ {
		case dhcpv4.MessageTypeNak:
			return
		case dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeAck:
		default:
			t.Fatalf("accepted message type %v", r.typ)
		}
		l := r.lease
		if !isUnicast4(l.Address.Addr()) || l.Address.Bits() < 1 || l.Address.Bits() > 32 {
			t.Fatalf("accepted address %v", l.Address)
		}
		if !isUnicast4(r.server) {
			t.Fatalf("accepted server %v", r.server)
		}
		if !l.Infinite && (l.Duration < dhcpMinLease || l.T1 <= 0 || l.T1 > l.T2 || l.T2 > l.Duration) {
			t.Fatalf("bad times: lease %v t1 %v t2 %v", l.Duration, l.T1, l.T2)
		}
		if l.MTU != 0 && l.MTU < dhcpMinMTU {
			t.Fatalf("accepted MTU %d", l.MTU)
		}
		if len(l.DNS) > dhcpMaxDNS || len(r.routes) > 2*dhcpMaxRoutes {
			t.Fatalf("unbounded lists: %d DNS, %d routes", len(l.DNS), len(r.routes))
		}
		for _, rt := range r.routes {
			if !rt.dst.IsValid() || (rt.gw.IsValid() && !isUnicast4(rt.gw)) {
				t.Fatalf("bad route %+v", rt)
			}
		}
	})
}

// ipv4UDP builds an IPv4 packet carrying a UDP datagram with valid checksums.
func ipv4UDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(b[header.IPv4MinimumSize:])
	u.Encode(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(header.UDPMinimumSize + len(payload))})
	copy(u.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), u.Length())
	u.SetChecksum(^u.CalculateChecksum(checksum.Checksum(payload, xsum)))
	return b
}

func TestDHCPFromIPv4(t *testing.T) {
	srv, yi := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	payload := testReply(t, dhcpv4.MessageTypeOffer, leaseOpts(60)...)

	got, src, ok := dhcpFromIPv4(ipv4UDP(srv, yi, 67, 68, payload))
	require.True(t, ok)
	require.Equal(t, srv, src)
	require.Equal(t, payload, got)
	r, err := parseDHCPReply(got, testMAC, src)
	require.NoError(t, err)
	require.Equal(t, dhcpv4.MessageTypeOffer, r.typ)

	for name, b := range map[string][]byte{
		"broadcast":  ipv4UDP(srv, netip.MustParseAddr("255.255.255.255"), 67, 68, payload),
		"wrong port": ipv4UDP(srv, yi, 67, 69, payload),
		"not server": ipv4UDP(srv, yi, 1067, 68, payload),
		"truncated":  ipv4UDP(srv, yi, 67, 68, payload)[:100],
		"short":      {0x45, 0},
		"bad udp checksum": func() []byte {
			b := ipv4UDP(srv, yi, 67, 68, payload)
			b[len(b)-1] ^= 0xff
			return b
		}(),
		"bad ip checksum": func() []byte {
			b := ipv4UDP(srv, yi, 67, 68, payload)
			b[8]-- // TTL
			return b
		}(),
		"fragment": func() []byte {
			b := ipv4UDP(srv, yi, 67, 68, payload)
			ip := header.IPv4(b)
			ip.SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0)
			ip.SetChecksum(0)
			ip.SetChecksum(^ip.CalculateChecksum())
			return b
		}(),
	} {
		_, _, ok := dhcpFromIPv4(b)
		require.False(t, ok, name)
	}
}

// FuzzDHCPFromIPv4 feeds arbitrary IPv4 packets, as the packet endpoint delivers them from the
// network, to the IPv4/UDP validation in front of the reply parser.
func FuzzDHCPFromIPv4(f *testing.F) {
	srv, yi := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	f.Add(ipv4UDP(srv, yi, 67, 68, testReply(f, dhcpv4.MessageTypeAck, leaseOpts(60)...)))
	f.Add(ipv4UDP(srv, yi, 67, 68, []byte{1, 2, 3}))
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, src, ok := dhcpFromIPv4(b)
		if !ok {
			return
		}
		if !src.Is4() || len(payload) > len(b) {
			t.Fatalf("accepted src %v payload %d of %d bytes", src, len(payload), len(b))
		}
		parseDHCPReply(payload, testMAC, src)
	})
}

// BenchmarkParseDHCPReply measures decoding and validating a typical ACK (not a hot path: a
// client sees a few per lease).
func BenchmarkParseDHCPReply(b *testing.B) {
	ack := testReply(b, dhcpv4.MessageTypeAck, append(leaseOpts(3600),
		dhcpv4.WithOption(dhcpv4.OptRouter(net.IPv4(10, 0, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptDNS(net.IPv4(10, 0, 0, 53))),
		dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0x78}))...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseDHCPReply(ack, testMAC, testServer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDHCPFromIPv4 measures the filter the packet endpoint applies to every IPv4 packet
// received while a lease is being acquired; it does not allocate.
func BenchmarkDHCPFromIPv4(b *testing.B) {
	pkt := ipv4UDP(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 67, 68,
		testReply(b, dhcpv4.MessageTypeAck, leaseOpts(3600)...))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if _, _, ok := dhcpFromIPv4(pkt); !ok {
			b.Fatal("rejected")
		}
	}
}

func TestDHCPFromIPv4NoAllocs(t *testing.T) {
	pkt := ipv4UDP(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 67, 68, []byte("x"))
	r := allocs.Measure(100, 0, func() { dhcpFromIPv4(pkt) })
	require.Zero(t, r.Mallocs, "%v", r)
}
