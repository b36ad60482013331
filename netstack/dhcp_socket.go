package netstack

// The DHCP client's UDP socket, and the placeholder address it sends from before the NIC has
// one.
//
// gVisor picks a packet's source address from the NIC's addresses and refuses to route a
// packet from a NIC that has none, so a plain UDP socket cannot send a DHCPDISCOVER. While it
// has no lease the client therefore assigns the unspecified address 0.0.0.0/0 to the NIC, as
// google/netstack's own DHCP client did: its socket, bound to the NIC and port 68 with
// SO_BROADCAST, then sends from 0.0.0.0:68 to 255.255.255.255:67, as RFC 2131 section 4.1
// requires. The /0 prefix makes 255.255.255.255 that address's broadcast address, which gVisor
// delivers locally anyway. The other options were worse: a raw socket would mean building IP
// and UDP headers ourselves, and spoofing would make the NIC answer ARP for every address. The
// placeholder is not added through NIC.AddAddress, so WaitConfigured does not see it, and it is
// removed as soon as a lease is bound.
//
// The client sets the BROADCAST flag in DISCOVER and REQUEST so that servers broadcast their
// replies, which the socket receives. Replies unicast to the offered address arrive through
// the packet endpoint of dhcp_sniffer.go instead.

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// DHCP ports (RFC 2131 section 4.1).
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
)

// open creates the client's UDP socket: port 68 on the NIC, allowed to broadcast.
func (c *dhcpClient) open() (*UDPConn, error) {
	var wq waiter.Queue
	ep, terr := c.n.s.s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, fmt.Errorf("netstack: DHCPv4 socket: %s", terr)
	}
	ep.SocketOptions().SetBroadcast(true)
	if terr := ep.SocketOptions().SetBindToDevice(int32(c.n.id)); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("netstack: DHCPv4 socket: binding to %s: %s", c.n.name, terr)
	}
	if terr := ep.Bind(tcpip.FullAddress{NIC: c.n.id, Port: dhcpClientPort}); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("netstack: DHCPv4 socket: binding port %d on %s: %s", dhcpClientPort, c.n.name, terr)
	}
	return newUDPConn("udp4", &wq, ep), nil
}

// read parses what arrives on port 68 and passes valid replies meant for this client to the
// state machine, dropping them when it is behind. It returns when the socket is closed.
func (c *dhcpClient) read() {
	buf := make([]byte, max(c.n.link.MTU(), dhcpv4.MaxMessageSize))
	for {
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var src netip.Addr
		if ua, ok := from.(*net.UDPAddr); ok {
			src, _ = netip.AddrFromSlice(ua.IP)
			src = src.Unmap()
		}
		c.deliver(buf[:n], src)
	}
}

// deliver parses a DHCP message from src and queues it for the state machine if it is a
// valid reply to this client, dropping it when the state machine is behind. Both the socket
// and the packet endpoint deliver through it.
func (c *dhcpClient) deliver(b []byte, src netip.Addr) {
	r, err := parseDHCPReply(b, c.mac, src)
	if err != nil {
		c.log.Debug("dhcp: ignoring packet", "from", src, "err", err)
		return
	}
	select {
	case c.rx <- r:
	default:
		c.log.Debug("dhcp: reply queue full, dropping", "type", r.typ)
	}
}

// setUnconfigured assigns (on) or removes (off) the placeholder address 0.0.0.0/0 that lets
// the client send before it has a lease, and opens or closes the packet endpoint that lets it
// receive replies unicast to the offered address.
func (c *dhcpClient) setUnconfigured(on bool) {
	if on == c.unconfigured {
		return
	}
	s := c.n.s.s
	if on {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: header.IPv4Any}}
		if err := s.AddProtocolAddress(c.n.id, pa, stack.AddressProperties{}); err != nil {
			c.log.Error("dhcp: cannot assign 0.0.0.0 to send DISCOVER", "err", err)
			return
		}
		c.startSniffer()
	} else {
		c.stopSniffer()
		if err := s.RemoveAddress(c.n.id, header.IPv4Any); err != nil {
			c.log.Error("dhcp: cannot remove 0.0.0.0", "err", err)
		}
	}
	c.unconfigured = on
}
