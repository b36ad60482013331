package netstack_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"time"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// Two stacks joined by an in-memory link: one listens, the other dials, as with package net.
func Example() {
	la, lb, err := pipe.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	server, _ := netstack.New(nil)
	defer server.Close()
	client, _ := netstack.New(nil)
	defer client.Close()
	server.AddNIC(la, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	client.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})

	ln, err := server.Listen("tcp", ":80")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "hello, %s", c.RemoteAddr())
		c.Close()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "tcp", "10.0.0.1:80")
	if err != nil {
		log.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	fmt.Println(string(b)[:len("hello, 10.0.0.2")])
	// Output: hello, 10.0.0.2
}
