package netstack_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// testDNSServer is a small authoritative DNS server over a net.PacketConn, written with
// dnsmessage: it answers A and AAAA questions from a table and NXDOMAIN for other names.
type testDNSServer struct {
	records  map[string][]netip.Addr // lower-case names with the trailing dot
	a, aaaa  atomic.Int64            // questions received by type
	answered atomic.Int64
}

func (d *testDNSServer) serve(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if msg, err := d.answer(buf[:n]); err == nil {
			pc.WriteTo(msg, from)
			d.answered.Add(1)
		}
	}
}

func (d *testDNSServer) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	switch q.Type {
	case dnsmessage.TypeA:
		d.a.Add(1)
	case dnsmessage.TypeAAAA:
		d.aaaa.Add(1)
	}
	addrs, known := d.records[strings.ToLower(q.Name.String())]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

var testRecords = map[string][]netip.Addr{
	"www.unikit.test.": {netip.MustParseAddr("10.0.0.99"), netip.MustParseAddr("fd00::99")},
}

// TestResolverAAndAAAA resolves names through the stack against a DNS server on a second stack,
// reached over IPv4 and over IPv6.
func TestResolverAAndAAAA(t *testing.T) {
	for _, tc := range []struct{ name, server string }{
		{"ipv4 server", "10.0.0.1"},
		{"ipv6 server", "fd00::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			la, lb, err := pipe.New(nil)
			require.NoError(t, err)
			client, err := netstack.New(nil)
			require.NoError(t, err)
			server, err := netstack.New(nil)
			require.NoError(t, err)
			defer func() { client.Close(); server.Close() }()
			_, err = server.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{
				netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fd00::1/64")}})
			require.NoError(t, err)
			_, err = client.AddNIC(la, &netstack.NICConfig{
				Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("fd00::2/64")},
				DNS:       []netip.Addr{netip.MustParseAddr(tc.server)},
			})
			require.NoError(t, err)

			pc, err := server.ListenPacket("udp", ":53")
			require.NoError(t, err)
			defer pc.Close()
			dns := &testDNSServer{records: testRecords}
			go dns.serve(pc)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r := client.Resolver()
			var ips []netip.Addr
			// IPv6 addresses need duplicate address detection before they are used.
			require.Eventually(t, func() bool {
				ips, err = r.LookupNetIP(ctx, "ip", "www.unikit.test")
				return err == nil
			}, 15*time.Second, 50*time.Millisecond, "lookup: %v", err)
			require.ElementsMatch(t, testRecords["www.unikit.test."], unmapAll(ips))
			require.Positive(t, dns.a.Load())
			require.Positive(t, dns.aaaa.Load())

			ips, err = r.LookupNetIP(ctx, "ip4", "www.unikit.test")
			require.NoError(t, err)
			require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.99")}, unmapAll(ips))
			ips, err = r.LookupNetIP(ctx, "ip6", "www.unikit.test")
			require.NoError(t, err)
			require.Equal(t, []netip.Addr{netip.MustParseAddr("fd00::99")}, ips)

			hosts, err := r.LookupHost(ctx, "WWW.Unikit.Test")
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"10.0.0.99", "fd00::99"}, hosts)

			_, err = r.LookupHost(ctx, "nowhere.unikit.test")
			var dnsErr *net.DNSError
			require.True(t, errors.As(err, &dnsErr), "error %v", err)
			require.True(t, dnsErr.IsNotFound, "error %v", err)
		})
	}
}

// TestResolverUsesLeaseDNS resolves through the DNS server that a DHCP lease names.
func TestResolverUsesLeaseDNS(t *testing.T) {
	srv := newTestServer()
	srv.dns = []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	e := newDHCPEnv(t, srv, pipe.Impairments{})
	pc, err := e.server.ListenPacket("udp", ":53")
	require.NoError(t, err)
	defer pc.Close()
	dns := &testDNSServer{records: testRecords}
	go dns.serve(pc)

	e.bound(t, leased)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.1")}, e.client.DNSServers())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := e.client.Resolver().LookupNetIP(ctx, "ip4", "www.unikit.test")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.99")}, unmapAll(ips))
}

func unmapAll(ips []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, len(ips))
	for i, a := range ips {
		out[i] = a.Unmap()
	}
	return out
}
