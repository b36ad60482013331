package pcap_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pcap"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// Capture everything a stack sends and receives to a file that tshark, tcpdump or Wireshark
// read: wrap its link before adding the NIC.
func ExampleNew() {
	la, lb, err := pipe.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(filepath.Join(os.TempDir(), "unikit-example.pcap"))
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	captured := pcap.New(la, f, nil)

	a, _ := netstack.New(nil)
	b, _ := netstack.New(nil)
	a.AddNIC(captured, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	b.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Ping(ctx, netip.MustParseAddr("10.0.0.2")); err != nil {
		log.Fatal(err)
	}
	a.Close() // closes the capture link, which writes out what it holds
	b.Close()
	// An ARP request and reply, then the echo request and reply, all in the file.
	st := captured.CaptureStats()
	info, _ := f.Stat()
	fmt.Println(st.Frames >= 4, st.Dropped, info.Size() == 24+int64(st.Bytes))
	// Output: true 0 true
}
