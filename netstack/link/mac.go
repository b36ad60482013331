package link

import (
	"crypto/rand"
	"net"
)

// RandomMAC returns a random unicast, locally administered Ethernet address (bit 0 of the
// first byte clear, bit 1 set), for a link whose device or peer does not give one.
func RandomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac) // crypto/rand.Read never fails (Go 1.24 and later)
	mac[0] = mac[0]&^1 | 2
	return mac
}
