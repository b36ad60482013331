package usernet_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"time"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/usernet"
)

// An application stack gets its address from the embedded user-mode network by DHCP and
// serves HTTP on port 80; the host reaches it through a port forward on 127.0.0.1, with no
// root and no other program.
func ExampleNew() {
	net, err := usernet.New(&usernet.Config{
		Forwards:    []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 80}},
		DNSUpstream: []netip.AddrPort{}, // no DNS needed here
	})
	if err != nil {
		log.Fatal(err)
	}
	defer net.Close()

	s, _ := netstack.New(nil)
	defer s.Close()
	nic, _ := s.AddNIC(net.Link(), nil) // DHCP
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := nic.WaitConfigured(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leased", addr)

	ln, _ := s.Listen("tcp", ":80")
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello through the user-mode network")
	}))

	resp, err := http.Get("http://" + net.ForwardAddrs()[0].String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	// Output:
	// leased 10.0.2.15/24
	// hello through the user-mode network
}
