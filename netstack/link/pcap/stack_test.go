package pcap_test

import (
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pcap"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// TestTsharkDecodesStackTraffic captures a TCP exchange between two stacks (10.0.0.1 and
// 10.0.0.2, inside the process) and has tshark decode it: ARP, the handshake in order, and
// every TCP checksum verified good.
func TestTsharkDecodesStackTraffic(t *testing.T) {
	tshark := peers.Program(t, "tshark", "tshark")
	path := filepath.Join(t.TempDir(), "stacks.pcap")
	file, err := os.Create(path)
	require.NoError(t, err)
	defer file.Close()

	a, b, err := pipe.New(nil)
	require.NoError(t, err)
	capture := pcap.New(a, file, nil)
	s1, err := netstack.New(nil)
	require.NoError(t, err)
	defer s1.Close()
	s2, err := netstack.New(nil)
	require.NoError(t, err)
	defer s2.Close()
	_, err = s1.AddNIC(capture, &netstack.NICConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, NoDHCP: true})
	require.NoError(t, err)
	_, err = s2.AddNIC(b, &netstack.NICConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}, NoDHCP: true})
	require.NoError(t, err)

	ln, err := s2.Listen("tcp", ":7")
	require.NoError(t, err)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c) // echo
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s1.Dial(ctx, "tcp", "10.0.0.2:7")
	require.NoError(t, err)
	msg := strings.Repeat("unikit ", 1000)
	_, err = c.Write([]byte(msg))
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, string(got))
	require.NoError(t, c.Close())
	require.NoError(t, s1.Close()) // closes the capture, which flushes
	require.Zero(t, capture.CaptureStats().Dropped)

	cmd := exec.Command(tshark, "-r", path, "-o", "tcp.check_checksum:TRUE", "-T", "fields",
		"-e", "eth.type", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.checksum.status", "-e", "tcp.len",
		"-e", "ip.src", "-e", "tcp.seq_raw")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	require.NoError(t, err)
	var arp, syn, synack, tcp, payload int
	// A segment the stack had to send again (the race detector slows everything down) is
	// recorded twice; count each (source, sequence number) once.
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		require.Len(t, f, 7, "line %q", line)
		switch f[0] {
		case "0x0806":
			arp++
		case "0x0800":
			tcp++
			require.Equal(t, "1", f[3], "TCP checksum good in %q", line)
			key := f[5] + "/" + f[6] + "/" + f[4] + "/" + f[1]
			if seen[key] {
				continue
			}
			seen[key] = true
			if f[1] == "1" && f[2] == "0" {
				require.Zero(t, synack, "SYN before SYN-ACK")
				syn++
			}
			if f[1] == "1" && f[2] == "1" {
				require.Equal(t, 1, syn, "SYN-ACK after SYN")
				synack++
			}
			var n int
			for _, ch := range f[4] {
				n = n*10 + int(ch-'0')
			}
			payload += n
		}
	}
	require.Positive(t, arp, "ARP request and reply")
	require.Equal(t, 1, syn)
	require.Equal(t, 1, synack)
	require.Equal(t, 2*len(msg), payload, "both directions of the echo")
	t.Logf("tshark decoded %d ARP and %d TCP frames", arp, tcp)
}
