package usernet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// DHCP ports.
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
)

// errDHCPIgnore marks a DHCP message that gets no reply (not a request, a release, a request
// meant for another server).
var errDHCPIgnore = errors.New("usernet: DHCP message ignored")

// dhcpReply computes the server's answer to the DHCP message req, which comes from the
// guest and is untrusted. It returns the encoded reply and where to send it: the client's
// address when it already has one, otherwise the limited broadcast address (the client
// cannot answer ARP before it is configured). One guest address is leased to any client.
func (c *Config) dhcpReply(req []byte) ([]byte, netip.AddrPort, error) {
	m, err := dhcpv4.FromBytes(req)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest || m.HWType != iana.HWTypeEthernet || len(m.ClientHWAddr) != 6 {
		return nil, netip.AddrPort{}, errDHCPIgnore
	}
	gw := net.IP(c.Gateway.AsSlice())
	guest := net.IP(c.Guest.AsSlice())
	if sid := m.ServerIdentifier(); sid != nil && !sid.Equal(gw) {
		return nil, netip.AddrPort{}, errDHCPIgnore
	}

	var typ dhcpv4.MessageType
	lease := true
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		want := m.RequestedIPAddress()
		if want == nil {
			want = m.ClientIPAddr // RENEWING or REBINDING
		}
		if want.Equal(guest) {
			typ = dhcpv4.MessageTypeAck
		} else {
			typ = dhcpv4.MessageTypeNak
		}
	case dhcpv4.MessageTypeInform:
		typ = dhcpv4.MessageTypeAck
		lease = false
	default: // release, decline and anything else: nothing to answer
		return nil, netip.AddrPort{}, errDHCPIgnore
	}

	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithServerIP(gw),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)),
	}
	if typ != dhcpv4.MessageTypeNak {
		mtu := make([]byte, 2)
		binary.BigEndian.PutUint16(mtu, uint16(c.MTU))
		mods = append(mods,
			dhcpv4.WithNetmask(net.CIDRMask(c.Subnet.Bits(), 32)),
			dhcpv4.WithOption(dhcpv4.OptRouter(gw)),
			dhcpv4.WithOption(dhcpv4.OptDNS(net.IP(c.DNS.AsSlice()))),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, mtu)),
		)
		if lease {
			mods = append(mods,
				dhcpv4.WithYourIP(guest),
				dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(c.LeaseTime)),
				dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(c.LeaseTime/2)),
				dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(c.LeaseTime*7/8)),
			)
		}
	}
	reply, err := dhcpv4.NewReplyFromRequest(m, mods...)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("usernet: building DHCP reply: %w", err)
	}

	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpClientPort)
	if ci, ok := netip.AddrFromSlice(m.ClientIPAddr.To4()); ok && !ci.IsUnspecified() && typ != dhcpv4.MessageTypeNak {
		dst = netip.AddrPortFrom(ci, dhcpClientPort)
	}
	return reply.ToBytes(), dst, nil
}

// serveDHCP answers DHCP requests arriving on pc until it is closed.
func (n *Network) serveDHCP(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			if n.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				n.log.Warn("usernet: DHCP server stopped", "err", err)
			}
			return
		}
		reply, dst, err := n.cfg.dhcpReply(buf[:k])
		if err != nil {
			if !errors.Is(err, errDHCPIgnore) {
				n.log.Debug("usernet: bad DHCP message", "err", err)
			}
			continue
		}
		if _, err := pc.WriteTo(reply, net.UDPAddrFromAddrPort(dst)); err != nil {
			n.log.Debug("usernet: sending DHCP reply", "to", dst, "err", err)
		}
	}
}
