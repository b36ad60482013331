package tap_test

import (
	"fmt"
	"log"
	"net/http"
	"net/netip"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/tap"
)

// Serve HTTP from a userspace stack on a TAP device. Prepare the device as root first, for
// example: ip tuntap add dev tap0 mode tap vnet_hdr user $USER; ip addr add 10.0.0.1/24 dev
// tap0; ip link set tap0 up. Then the host reaches the stack at http://10.0.0.2/.
func ExampleOpen() {
	l, err := tap.Open("tap0", nil) // checksum offload, TSO and GRO when the kernel has them
	if err != nil {
		log.Fatal(err)
	}
	s, err := netstack.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // closes the link too
	if _, err := s.AddNIC(l, &netstack.NICConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
		Gateway:   netip.MustParseAddr("10.0.0.1"),
	}); err != nil {
		log.Fatal(err)
	}
	ln, err := s.Listen("tcp", ":80")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from a userspace TCP/IP stack over TAP")
	})))
}
