package kernelnet

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// defaultLeaseTime is assumed when an ACK gives no lease time, as RFC 2131 leaves it to the
// client; the client renews at half of it.
const defaultLeaseTime = time.Hour

// leaseFromACK reads the configuration out of a DHCPACK. The ACK comes from the network: an
// address that is not a unicast IPv4 host address, a mask that is not a prefix, or a gateway
// outside the subnet is refused (a gateway the interface cannot reach directly makes no
// default route).
func leaseFromACK(ack *dhcpv4.DHCPv4) (Lease, error) {
	if ack == nil {
		return Lease{}, fmt.Errorf("kernelnet: no DHCPACK")
	}
	addr, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !addr.IsGlobalUnicast() {
		return Lease{}, fmt.Errorf("kernelnet: DHCPACK offers %v, not a unicast IPv4 address", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = addr4DefaultMask(addr)
	}
	ones, bits := mask.Size()
	if bits != 32 || ones == 0 || ones > 30 {
		return Lease{}, fmt.Errorf("kernelnet: DHCPACK subnet mask %v is not an IPv4 prefix of 1 to 30 bits", net.IP(mask))
	}
	l := Lease{Addr: netip.PrefixFrom(addr, ones), Duration: ack.IPAddressLeaseTime(defaultLeaseTime)}
	if l.Addr.Masked().Addr() == addr || addr == broadcast(l.Addr) {
		return Lease{}, fmt.Errorf("kernelnet: DHCPACK offers %v, the subnet's own or broadcast address", l.Addr)
	}
	if l.Duration <= 0 {
		l.Duration = defaultLeaseTime
	}
	for _, r := range ack.Router() {
		if gw, ok := netip.AddrFromSlice(r.To4()); ok && l.Addr.Contains(gw) && gw != addr {
			l.Gateway = gw
			break
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok && !a.IsUnspecified() {
			l.DNS = append(l.DNS, a)
		}
	}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		l.Server = s
	}
	return l, nil
}

// broadcast returns the broadcast address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	for i := range b {
		b[i] |= byte(host >> (8 * (3 - i)))
	}
	return netip.AddrFrom4(b)
}

// addr4DefaultMask is the classful mask of an address, which a client assumes when the server
// sends none.
func addr4DefaultMask(a netip.Addr) net.IPMask {
	b := a.As4()
	return net.IP(b[:]).DefaultMask()
}

// resolvConf is the text of /etc/resolv.conf for the name servers; "" for none.
func resolvConf(dns []netip.Addr) string {
	if len(dns) == 0 {
		return ""
	}
	s := "# written by the appliance from its DHCP lease\n"
	for _, d := range dns {
		s += "nameserver " + d.String() + "\n"
	}
	return s
}
