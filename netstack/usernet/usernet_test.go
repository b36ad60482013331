package usernet_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/unikit/unikit/internal/leaktest"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/usernet"
)

// guest attaches a new application stack to n with the default guest address, statically
// (dhcp false) or by DHCP, and waits until it is configured.
func guest(t testing.TB, n *usernet.Network, dhcp bool) *netstack.Stack {
	s, _ := guestNIC(t, n, dhcp)
	return s
}

// guestNIC is guest that also returns the NIC.
func guestNIC(t testing.TB, n *usernet.Network, dhcp bool) (*netstack.Stack, *netstack.NIC) {
	t.Helper()
	s, err := netstack.New(nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	cfg := &netstack.NICConfig{}
	if !dhcp {
		cfg = &netstack.NICConfig{
			Addresses: []netip.Prefix{netip.PrefixFrom(n.Guest(), n.Subnet().Bits())},
			Gateway:   n.Gateway(),
			DNS:       []netip.Addr{n.DNS()},
		}
	}
	nic, err := s.AddNIC(n.Link(), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = nic.WaitConfigured(ctx)
	require.NoError(t, err)
	require.Contains(t, nic.Addresses(), netip.PrefixFrom(n.Guest(), n.Subnet().Bits()))
	return s, nic
}

// newNetwork starts a network with cfg and closes it at the end of the test.
func newNetwork(t testing.TB, cfg *usernet.Config) *usernet.Network {
	t.Helper()
	if cfg.DNSUpstream == nil {
		cfg.DNSUpstream = []netip.AddrPort{} // never the host's resolvers in tests
	}
	n, err := usernet.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

// serveHTTP serves a page on port 80 of s until the test ends.
func serveHTTP(t testing.TB, s *netstack.Stack, body string) {
	t.Helper()
	ln, err := s.Listen("tcp", ":80")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
}

func TestForwardHTTP(t *testing.T) {
	n := newNetwork(t, &usernet.Config{Forwards: []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 80}}})
	s := guest(t, n, false)
	serveHTTP(t, s, "hello through usernet")

	addr := n.ForwardAddrs()[0].String()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "hello through usernet", string(body))
}

func TestForwardRefusedWhenGuestHasNoListener(t *testing.T) {
	n := newNetwork(t, &usernet.Config{Forwards: []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 81}}})
	guest(t, n, false)
	c, err := net.Dial("tcp", n.ForwardAddrs()[0].String())
	if err != nil {
		require.ErrorIs(t, err, syscall.ECONNRESET) // the reset can beat connect's return
		return
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "want EOF or reset, got %v", err)
}

// echoServer echoes every connection on port of s, half-closing after the client does.
func echoServer(t testing.TB, s *netstack.Stack, port int) {
	t.Helper()
	ln, err := s.Listen("tcp", fmt.Sprintf(":%d", port))
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
				c.(interface{ CloseWrite() error }).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// echoCheck sends size pseudo-random bytes over c, half-closes and checks that exactly the
// same bytes come back before EOF.
func echoCheck(c net.Conn, size int, seed byte) error {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7) ^ seed
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return fmt.Errorf("echo of %d bytes came back as %d different bytes", size, len(got))
	}
	return nil
}

func TestManyConcurrentConnections(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noOffload bool
	}{{"offload", false}, {"no-offload", true}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, &usernet.Config{
				NoOffload: tc.noOffload,
				Forwards:  []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 7}},
			})
			s := guest(t, n, false)
			echoServer(t, s, 7)
			addr := n.ForwardAddrs()[0].String()

			const conns = 40
			errs := make(chan error, conns)
			for i := range conns {
				go func() {
					c, err := net.DialTimeout("tcp", addr, 10*time.Second)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(60 * time.Second))
					errs <- echoCheck(c, 64<<10+i*1000, byte(i))
				}()
			}
			for range conns {
				require.NoError(t, <-errs)
			}
		})
	}
}

func TestCloseWithOpenConnections(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		n, err := usernet.New(&usernet.Config{
			DNSUpstream: []netip.AddrPort{},
			Forwards:    []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 7}},
		})
		require.NoError(t, err)
		s, err := netstack.New(nil)
		require.NoError(t, err)
		_, err = s.AddNIC(n.Link(), &netstack.NICConfig{
			Addresses: []netip.Prefix{netip.PrefixFrom(n.Guest(), 24)},
		})
		require.NoError(t, err)
		ln, err := s.Listen("tcp", ":7")
		require.NoError(t, err)
		var held []net.Conn
		var mu sync.Mutex
		acceptDone := make(chan struct{})
		go func() {
			defer close(acceptDone)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()

		var clients []net.Conn
		for range 5 {
			c, err := net.Dial("tcp", n.ForwardAddrs()[0].String())
			require.NoError(t, err)
			clients = append(clients, c)
		}
		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(held) == 5 }, 10*time.Second, 10*time.Millisecond)

		require.NoError(t, n.Close())
		require.NoError(t, n.Close(), "Close is idempotent")
		for _, c := range clients {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			require.Error(t, err)
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "client connection not ended by Close: %v", err)
			c.Close()
		}
		_, err = net.Dial("tcp", n.ForwardAddrs()[0].String())
		require.Error(t, err, "listener still open after Close")

		s.Close()
		<-acceptDone
		for _, c := range held {
			c.Close()
		}
	}()
	leaktest.Settle(t, before)
}

// dnsServer is a tiny DNS server on loopback (UDP and TCP on the same port) that answers A
// queries for names ending in ".test." with 192.0.2.x, x the number of labels, sets the TC
// bit on UDP answers for names starting with "big.", and counts queries per transport.
type dnsServer struct {
	addr    netip.AddrPort
	mu      sync.Mutex
	udp     int
	tcp     int
	closers []io.Closer
	wg      sync.WaitGroup
}

func startDNSServer(t testing.TB) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil { // port taken for TCP: try another pair
		pc.Close()
		return startDNSServer(t)
	}
	d := &dnsServer{addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), closers: []io.Closer{pc, ln}}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			d.mu.Lock()
			d.udp++
			d.mu.Unlock()
			if r := answer(buf[:k], true); r != nil {
				pc.WriteTo(r, from)
			}
		}
	}()
	go func() {
		defer d.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.tcp++
			d.mu.Unlock()
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for {
					var l [2]byte
					if _, err := io.ReadFull(c, l[:]); err != nil {
						return
					}
					q := make([]byte, int(l[0])<<8|int(l[1]))
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					r := answer(q, false)
					if r == nil {
						return
					}
					c.Write(append([]byte{byte(len(r) >> 8), byte(len(r))}, r...))
				}
			}()
		}
	}()
	t.Cleanup(func() {
		for _, c := range d.closers {
			c.Close()
		}
		d.wg.Wait()
	})
	return d
}

func (d *dnsServer) counts() (udp, tcp int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.udp, d.tcp
}

func answer(q []byte, udp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	question, err := p.Question()
	if err != nil {
		return nil
	}
	name := question.Name.String()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	big := strings.HasPrefix(name, "big.")
	if udp && big {
		rh.Truncated = true
	}
	if !strings.HasSuffix(name, ".test.") {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.StartQuestions()
	b.Question(question)
	b.StartAnswers()
	if rh.RCode == dnsmessage.RCodeSuccess && !rh.Truncated && question.Type == dnsmessage.TypeA {
		labels := strings.Count(name, ".")
		b.AResource(dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: [4]byte{192, 0, 2, byte(labels)}})
	}
	out, _ := b.Finish()
	return out
}

func TestDNSForwarding(t *testing.T) {
	d := startDNSServer(t)
	n := newNetwork(t, &usernet.Config{DNSUpstream: []netip.AddrPort{d.addr}})
	s := guest(t, n, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	addrs, err := s.Resolver().LookupNetIP(ctx, "ip4", "www.example.test")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.3")}, addrs)
	udp, _ := d.counts()
	require.Positive(t, udp)

	_, err = s.Resolver().LookupNetIP(ctx, "ip4", "nowhere.invalid")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	require.True(t, de.IsNotFound, "NXDOMAIN from upstream reaches the guest: %v", err)

	// A truncated UDP answer makes Go's resolver retry over TCP, relayed to the upstream.
	addrs, err = s.Resolver().LookupNetIP(ctx, "ip4", "big.example.test")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.3")}, addrs)
	_, tcp := d.counts()
	require.Positive(t, tcp)
}

func TestDNSErrors(t *testing.T) {
	// Upstream list empty: SERVFAIL. Upstream that never answers: SERVFAIL after the timeout.
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	for _, tc := range []struct {
		name     string
		upstream []netip.AddrPort
	}{
		{"none", []netip.AddrPort{}},
		{"silent", []netip.AddrPort{silent.LocalAddr().(*net.UDPAddr).AddrPort()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, &usernet.Config{DNSUpstream: tc.upstream, DNSTimeout: 200 * time.Millisecond})
			s := guest(t, n, false)
			pc, err := s.ListenPacket("udp4", ":0")
			require.NoError(t, err)
			defer pc.Close()
			dnsAddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.DNS(), 53))

			q := buildQuery(t, 0x1234, "a.example.test.")
			_, err = pc.WriteTo(q, dnsAddr)
			require.NoError(t, err)
			h := readAnswer(t, pc)
			require.Equal(t, uint16(0x1234), h.ID)
			require.Equal(t, dnsmessage.RCodeServerFailure, h.RCode)

			// A query with a garbled question gets FORMERR; a header-less one gets nothing.
			bad := append(q[:12:12], 0xff, 0xff)
			_, err = pc.WriteTo(bad, dnsAddr)
			require.NoError(t, err)
			h = readAnswer(t, pc)
			require.Equal(t, uint16(0x1234), h.ID)
			require.Equal(t, dnsmessage.RCodeFormatError, h.RCode)
		})
	}
}

func buildQuery(t testing.TB, id uint16, name string) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	require.NoError(t, b.StartQuestions())
	require.NoError(t, b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}))
	q, err := b.Finish()
	require.NoError(t, err)
	return q
}

func readAnswer(t testing.TB, pc net.PacketConn) dnsmessage.Header {
	t.Helper()
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	k, _, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	var p dnsmessage.Parser
	h, err := p.Start(buf[:k])
	require.NoError(t, err)
	require.True(t, h.Response)
	return h
}

func TestHostLoopback(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprint("enabled=", enabled), func(t *testing.T) {
			n := newNetwork(t, &usernet.Config{HostLoopback: enabled})
			s := guest(t, n, false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := s.Dial(ctx, "tcp", netip.AddrPortFrom(n.Gateway(), uint16(port)).String())
			if !enabled {
				require.Error(t, err, "gateway must refuse without HostLoopback")
				return
			}
			require.NoError(t, err)
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := bytes.Repeat([]byte("loopback "), 10000)
			go func() {
				c.Write(msg)
				c.(interface{ CloseWrite() error }).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			require.Equal(t, msg, got)

			// Other addresses are refused even with HostLoopback.
			_, err = s.Dial(ctx, "tcp", netip.AddrPortFrom(n.DNS(), uint16(port)).String())
			require.Error(t, err)
		})
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  usernet.Config
	}{
		{"ipv6 subnet", usernet.Config{Subnet: netip.MustParsePrefix("fd00::/64")}},
		{"tiny subnet", usernet.Config{Subnet: netip.MustParsePrefix("10.0.0.0/30")}},
		{"guest outside", usernet.Config{Guest: netip.MustParseAddr("10.0.3.15")}},
		{"guest is gateway", usernet.Config{Guest: netip.MustParseAddr("10.0.2.2")}},
		{"gateway is broadcast", usernet.Config{Gateway: netip.MustParseAddr("10.0.2.255")}},
		{"mtu", usernet.Config{MTU: 100}},
		{"lease", usernet.Config{LeaseTime: time.Second}},
		{"forward without port", usernet.Config{Forwards: []usernet.Forward{{Host: "127.0.0.1:0"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := usernet.New(&tc.cfg)
			require.ErrorIs(t, err, usernet.ErrBadConfig)
		})
	}

	n, err := usernet.New(&usernet.Config{Subnet: netip.MustParsePrefix("192.168.7.0/24"), DNSUpstream: []netip.AddrPort{}})
	require.NoError(t, err)
	defer n.Close()
	require.Equal(t, netip.MustParseAddr("192.168.7.2"), n.Gateway())
	require.Equal(t, netip.MustParseAddr("192.168.7.3"), n.DNS())
	require.Equal(t, netip.MustParseAddr("192.168.7.15"), n.Guest())
}

func TestForwardListenError(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	before := runtime.NumGoroutine()
	_, err = usernet.New(&usernet.Config{
		DNSUpstream: []netip.AddrPort{},
		Forwards:    []usernet.Forward{{Host: ln.Addr().String(), GuestPort: 80}},
	})
	require.Error(t, err)
	leaktest.Settle(t, before)
}

func TestGuestByDHCP(t *testing.T) {
	d := startDNSServer(t)
	n := newNetwork(t, &usernet.Config{
		MTU:         9000,
		DNSUpstream: []netip.AddrPort{d.addr},
		Forwards:    []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 80}},
	})
	s, nic := guestNIC(t, n, true) // address, router, DNS and MTU from usernet's DHCP server
	require.Equal(t, 9000, nic.MTU())
	lease, ok := nic.Lease()
	require.True(t, ok)
	t.Logf("lease: %+v", lease)
	serveHTTP(t, s, "leased")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.Equal(t, []netip.Addr{n.DNS()}, s.DNSServers())
	addrs, err := s.Resolver().LookupNetIP(ctx, "ip4", "dhcp.example.test")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.3")}, addrs)

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + n.ForwardAddrs()[0].String() + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "leased", string(body))
}
