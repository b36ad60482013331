package netstack

// The DHCP client's packet endpoint, for replies unicast to an address the NIC does not have
// yet.
//
// Some servers (passt among them) ignore the BROADCAST flag and unicast OFFER and ACK to the
// offered address, which the stack drops because the NIC does not have it yet. Promiscuous
// mode does not help: with HandleLocal, gVisor then takes every packet's source for a local
// address and drops the packet as a martian. For those servers the client also reads the NIC's
// IPv4 packets through a gVisor packet endpoint (as Linux DHCP clients use an AF_PACKET socket)
// and takes replies to port 68 from there, validating the IPv4 and UDP headers itself. Such an
// endpoint exists only when the stack has a RawFactory and the NIC was created with
// DeliverLinkPackets; otherwise the client relies on the UDP socket alone.

import (
	"bytes"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/waiter"
)

// dhcpSniffer is a packet endpoint on the NIC and the goroutine reading it. It exists only
// while the client acquires a lease: while any packet endpoint is open gVisor copies every
// received packet for it.
type dhcpSniffer struct {
	ep   tcpip.Endpoint
	wq   waiter.Queue
	stop chan struct{}
	done chan struct{}
}

// startSniffer opens a packet endpoint for IPv4 on the NIC, if the stack can make one, and
// starts reading it.
func (c *dhcpClient) startSniffer() {
	if c.sniffer != nil {
		return
	}
	sn := &dhcpSniffer{stop: make(chan struct{}), done: make(chan struct{})}
	ep, err := c.n.s.s.NewPacketEndpoint(true /* cooked: from the IP header on */, header.IPv4ProtocolNumber, &sn.wq)
	if err != nil {
		c.log.Debug("dhcp: no packet endpoint; replies unicast to the offered address will be missed", "err", err)
		return
	}
	if err := ep.Bind(tcpip.FullAddress{NIC: c.n.id}); err != nil {
		c.log.Debug("dhcp: binding packet endpoint", "err", err)
		ep.Close()
		return
	}
	sn.ep = ep
	c.sniffer = sn
	go func() {
		defer close(sn.done)
		c.sniff(sn)
	}()
}

// stopSniffer closes the packet endpoint and waits for its reader.
func (c *dhcpClient) stopSniffer() {
	sn := c.sniffer
	if sn == nil {
		return
	}
	c.sniffer = nil
	close(sn.stop)
	sn.ep.Close()
	<-sn.done
}

// sniff reads IPv4 packets from the packet endpoint and passes DHCP replies unicast to port 68
// to the state machine, until the sniffer is stopped.
func (c *dhcpClient) sniff(sn *dhcpSniffer) {
	we, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	sn.wq.EventRegister(&we)
	defer sn.wq.EventUnregister(&we)
	var buf bytes.Buffer
	for {
		buf.Reset()
		_, err := sn.ep.Read(&buf, tcpip.ReadOptions{})
		if _, ok := err.(*tcpip.ErrWouldBlock); ok {
			select {
			case <-ch:
				continue
			case <-sn.stop:
				return
			}
		}
		if err != nil {
			return
		}
		if payload, src, ok := dhcpFromIPv4(buf.Bytes()); ok {
			c.deliver(payload, src)
		}
	}
}

// dhcpFromIPv4 returns the UDP payload of b, an IPv4 packet from the network, when it is a
// datagram from port 67 to port 68 unicast (not broadcast: the UDP socket receives those) with
// valid headers and checksum, together with its source address.
func dhcpFromIPv4(b []byte) ([]byte, netip.Addr, bool) {
	if len(b) < header.IPv4MinimumSize {
		return nil, netip.Addr{}, false
	}
	ip := header.IPv4(b)
	hl := int(ip.HeaderLength())
	tl := int(ip.TotalLength())
	if ip.Protocol() != uint8(header.UDPProtocolNumber) || !ip.IsValid(len(b)) || tl < hl+header.UDPMinimumSize ||
		ip.More() || ip.FragmentOffset() != 0 || !ip.IsChecksumValid() {
		return nil, netip.Addr{}, false
	}
	dst := ip.DestinationAddress()
	if dst == header.IPv4Broadcast {
		return nil, netip.Addr{}, false
	}
	u := header.UDP(b[hl:tl])
	if u.SourcePort() != dhcpServerPort || u.DestinationPort() != dhcpClientPort ||
		int(u.Length()) < header.UDPMinimumSize || int(u.Length()) > len(u) {
		return nil, netip.Addr{}, false
	}
	u = u[:u.Length()]
	payload := u.Payload()
	src := ip.SourceAddress()
	if u.Checksum() != 0 && !u.IsChecksumValid(src, dst, checksum.Checksum(payload, 0)) {
		return nil, netip.Addr{}, false
	}
	return payload, netip.AddrFrom4(src.As4()), true
}
