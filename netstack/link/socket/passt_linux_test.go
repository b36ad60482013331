package socket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/linktest"
)

// passtNetnsEnv forces the passt tests to run passt inside a network namespace even when the
// machine has a default route (they do so anyway when it has none).
const passtNetnsEnv = "UNIKIT_PASST_NETNS"

// passtPeer is a passt process serving one client on a UNIX socket, with the addresses it
// offers the guest and a forward of host TCP port HostPort on 127.0.0.1 to the guest's port 80.
type passtPeer struct {
	Sock     string
	HostPort int
	Guest    netip.Prefix // the address passt assigns (by DHCP) to the guest
	Gateway  netip.Addr
	ns       *netns.NS // nil when passt runs in the test's own namespace
	out      *netns.SyncBuffer
}

// dialHost connects to the port forward from the namespace passt runs in.
func (p *passtPeer) dialHost(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.HostPort))
	if p.ns == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	var c net.Conn
	err := p.ns.Do(func() (err error) {
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// hasDefaultRoute4 reports whether the test's namespace has an IPv4 default route, which passt
// takes its template interface from.
func hasDefaultRoute4() bool {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[1] == "00000000" {
			return true
		}
	}
	return false
}

// startPasst starts passt in the foreground, IPv4 only, serving one client (-1) on a socket
// in a temporary directory and forwarding 127.0.0.1:HostPort to the guest's port 80. passt
// mirrors the host's default-route interface for the guest's addresses; it opens no
// connection itself, so its only traffic is with the guest and loopback. Without a default
// route (or with UNIKIT_PASST_NETNS=1) it runs in a namespace the test creates, with a veth
// interface 10.213.0.2/24 and a default route via 10.213.0.1 that exist only there.
func startPasst(t *testing.T) *passtPeer {
	t.Helper()
	bin := peers.Program(t, "passt", "passt")
	// Run as root, passt drops to the user nobody before it binds its socket, so the directory
	// must be writable and every parent searchable for nobody (t.TempDir's parent is not).
	dir, err := os.MkdirTemp("", "unikit-passt-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	p := &passtPeer{Sock: filepath.Join(dir, "passt.sock")}
	if os.Getenv(passtNetnsEnv) == "1" || !hasDefaultRoute4() {
		peers.Root(t)
		p.ns = netns.New(t)
		// A veth pair with both ends in the namespace: not every kernel has dummy devices.
		p.ns.AddUplink(t, netip.MustParsePrefix("10.213.0.2/24"), netip.MustParseAddr("10.213.0.1"))
	}
	p.HostPort = freePort(t, p.ns)
	args := []string{"-f", "-e", "-1", "-4", "-s", p.Sock, "-t", "127.0.0.1/" + strconv.Itoa(p.HostPort) + ":80"}
	if p.ns != nil {
		_, p.out = p.ns.Start(t, bin, args...)
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, args...)
		p.out = new(netns.SyncBuffer)
		cmd.Stdout, cmd.Stderr = p.out, p.out
		cmd.WaitDelay = 5 * time.Second
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			cancel()
			_ = cmd.Wait()
		})
	}
	require.Eventually(t, func() bool { return strings.Contains(p.out.String(), "UNIX domain socket bound") },
		waitTimeout, 10*time.Millisecond, "passt did not bind its socket")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("passt output:\n%s", filterPasstOutput(p.out.String()))
		}
	})
	// passt prints the DHCP configuration it offers: "assign: A", "mask: M", "router: R".
	var assign, mask, router string
	for _, line := range strings.Split(p.out.String(), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		switch k {
		case "assign":
			if assign == "" {
				assign = v
			}
		case "mask":
			mask = v
		case "router":
			if router == "" {
				router = v
			}
		}
	}
	addr, err := netip.ParseAddr(assign)
	require.NoError(t, err, "passt's assigned address")
	ones, _ := net.IPMask(net.ParseIP(mask).To4()).Size()
	p.Guest = netip.PrefixFrom(addr, ones)
	p.Gateway, err = netip.ParseAddr(router)
	require.NoError(t, err, "passt's router")
	return p
}

// filterPasstOutput drops passt's complaints about a missing syslog.
func filterPasstOutput(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "Failed to send") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// freePort returns a TCP port that is free on 127.0.0.1 in ns (nil: the test's namespace).
func freePort(t *testing.T, ns *netns.NS) int {
	t.Helper()
	var port int
	listen := func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		return ln.Close()
	}
	if ns == nil {
		require.NoError(t, listen())
	} else {
		require.NoError(t, ns.Do(listen))
	}
	return port
}

// TestPasstLink checks the framing against passt itself at the link level: passt answers an
// ARP request for its gateway address and a DHCP DISCOVER with an OFFER of the address it
// printed, both sent through this link and read back from it.
func TestPasstLink(t *testing.T) {
	p := startPasst(t)
	mac := net.HardwareAddr{0x02, 0x75, 0x6e, 0x69, 0x6b, 0x01}
	l, err := Dial(context.Background(), "unix", p.Sock, &Config{MAC: mac, Logger: quietConfig(t).Logger})
	require.NoError(t, err)
	defer l.Close()
	r := linktest.NewRecorder(l, &linktest.RecorderConfig{Timeout: waitTimeout})
	require.NoError(t, l.Start(r))

	// ARP: who has the gateway? Tell the guest address.
	arp := make([]byte, 60)
	header.Ethernet(arp).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(mac), DstAddr: header.EthernetBroadcastAddress, Type: header.ARPProtocolNumber,
	})
	a := header.ARP(arp[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), mac)
	guest4, gw4 := p.Guest.Addr().As4(), p.Gateway.As4()
	copy(a.ProtocolAddressSender(), guest4[:])
	copy(a.ProtocolAddressTarget(), gw4[:])
	n, err := l.Transmit([]link.Frame{{Segments: [][]byte{arp}}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	reply := r.WaitMatch(t, "an ARP reply from passt", func(f linktest.Received) bool {
		b := f.Data
		if header.Ethernet(b).Type() != header.ARPProtocolNumber {
			return false
		}
		a := header.ARP(b[header.EthernetMinimumSize:])
		return a.IsValid() && a.Op() == header.ARPReply && bytes.Equal(a.ProtocolAddressSender(), gw4[:])
	})
	require.Equal(t, tcpip.LinkAddress(mac), header.Ethernet(reply.Data).DestinationAddress())

	// DHCP DISCOVER from 0.0.0.0:68 to 255.255.255.255:67.
	const xid = 0x756e696b
	frame := udpFrame(mac, dhcpDiscover(mac, xid))
	_, err = l.Transmit([]link.Frame{{Segments: [][]byte{frame[:14], frame[14:]}}})
	require.NoError(t, err)
	var offer dhcpReply
	r.WaitMatch(t, "a DHCP OFFER from passt", func(f linktest.Received) bool {
		m, ok := parseDHCP(f.Data)
		if ok && m.xid == xid && m.msgType == 2 {
			offer = m
			return true
		}
		return false
	})
	require.Equal(t, p.Guest.Addr(), offer.yiaddr)
	require.Equal(t, p.Gateway, offer.router)
	st := l.Stats()
	require.Zero(t, st.RxErrors+st.TxErrors+st.RxDropped)
	require.Equal(t, uint64(2), st.TxFrames)
}

// udpFrame returns an Ethernet broadcast frame carrying payload from 0.0.0.0:68 to
// 255.255.255.255:67.
func udpFrame(mac net.HardwareAddr, payload []byte) []byte {
	const ipLen, udpLen = header.IPv4MinimumSize, header.UDPMinimumSize
	b := make([]byte, header.EthernetMinimumSize+ipLen+udpLen+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(mac), DstAddr: header.EthernetBroadcastAddress, Type: header.IPv4ProtocolNumber,
	})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(ipLen + udpLen + len(payload)),
		TTL:         64,
		Protocol:    uint8(header.UDPProtocolNumber),
		SrcAddr:     tcpip.AddrFrom4([4]byte{}),
		DstAddr:     tcpip.AddrFrom4([4]byte{255, 255, 255, 255}),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(ip[ipLen:])
	u.Encode(&header.UDPFields{SrcPort: 68, DstPort: 67, Length: uint16(udpLen + len(payload))})
	copy(u.Payload(), payload)
	return b
}

// dhcpDiscover returns a minimal DHCPDISCOVER (RFC 2131): BOOTP header, magic cookie,
// message type 1, parameter request list (subnet mask, router), end.
func dhcpDiscover(mac net.HardwareAddr, xid uint32) []byte {
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, hlen 6
	binary.BigEndian.PutUint32(b[4:], xid)
	binary.BigEndian.PutUint16(b[10:], 0x8000) // broadcast flag
	copy(b[28:], mac)
	binary.BigEndian.PutUint32(b[236:], 0x63825363)
	return append(b, 53, 1, 1, 55, 2, 1, 3, 255)
}

// dhcpReply is what the test reads from a server's DHCP message.
type dhcpReply struct {
	xid     uint32
	msgType byte
	yiaddr  netip.Addr
	router  netip.Addr
}

// parseDHCP decodes a BOOTREPLY in an Ethernet/IPv4/UDP frame to port 68.
func parseDHCP(b []byte) (dhcpReply, bool) {
	var m dhcpReply
	if len(b) < header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize ||
		header.Ethernet(b).Type() != header.IPv4ProtocolNumber {
		return m, false
	}
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	if !ip.IsValid(len(ip)) || ip.TransportProtocol() != header.UDPProtocolNumber {
		return m, false
	}
	u := header.UDP(ip.Payload())
	if len(u) < header.UDPMinimumSize || u.DestinationPort() != 68 {
		return m, false
	}
	d := u.Payload()
	if len(d) < 240 || d[0] != 2 || binary.BigEndian.Uint32(d[236:]) != 0x63825363 {
		return m, false
	}
	m.xid = binary.BigEndian.Uint32(d[4:])
	m.yiaddr = netip.AddrFrom4([4]byte(d[16:20]))
	for opts := d[240:]; len(opts) > 0 && opts[0] != 255; {
		if opts[0] == 0 {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			break
		}
		code, val := opts[0], opts[2:2+int(opts[1])]
		switch {
		case code == 53 && len(val) == 1:
			m.msgType = val[0]
		case code == 3 && len(val) >= 4:
			m.router = netip.AddrFrom4([4]byte(val[:4]))
		}
		opts = opts[2+len(val):]
	}
	return m, true
}
