package socket_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/socket"
)

// Two programs' stacks joined by the QEMU stream protocol over a UNIX socket: one side
// listens as QEMU's socket-listen would, the other connects as it would to passt's socket.
func ExampleDial() {
	dir, _ := os.MkdirTemp("", "unikit-socket")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "link.sock")

	server, err := socket.Listen("unix", path, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := socket.Dial(ctx, "unix", path, nil)
	if err != nil {
		log.Fatal(err)
	}

	a, _ := netstack.New(nil)
	defer a.Close()
	b, _ := netstack.New(nil)
	defer b.Close()
	a.AddNIC(server, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.77.1/24")}})
	b.AddNIC(client, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.77.2/24")}})

	ln, _ := a.Listen("tcp", ":7")
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.WriteString(c, "framed by length prefixes")
			c.Close()
		}
	}()
	c, err := b.Dial(ctx, "tcp", "192.168.77.1:7")
	if err != nil {
		log.Fatal(err)
	}
	msg, _ := io.ReadAll(c)
	fmt.Println(string(msg))
	// Output: framed by length prefixes
}
