package netstack_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/netstack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// synFrame builds an Ethernet/IPv4/TCP SYN from src:sport to dst:80, addressed to dstMAC.
func synFrame(dstMAC, srcMAC []byte, src, dst netip.Addr, sport uint16, seq uint32) []byte {
	b := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.TCPMinimumSize)
	header.Ethernet(b).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(srcMAC), DstAddr: tcpip.LinkAddress(dstMAC), Type: header.IPv4ProtocolNumber,
	})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(ip[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{SrcPort: sport, DstPort: 80, SeqNum: seq, DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagSyn, WindowSize: 65535})
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(tcp)))
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return b
}

// TestSYNFloodKeepsServing floods a listening stack with 10,000 spoofed SYNs per second for
// three seconds while a client keeps using an established connection and opening new ones.
// The half-open state stays bounded by the listen backlog (SYN cookies beyond it), the heap
// does not grow with the flood, and the legitimate client is served throughout.
func TestSYNFloodKeepsServing(t *testing.T) {
	if testing.Short() || israce.Enabled {
		t.Skip("floods for three seconds at full speed; the race detector's slowdown leaves no CPU for the client")
	}
	la, lb := newChanPair(1500, 0)
	server, err := netstack.New(&netstack.Config{ListenBacklog: 128})
	require.NoError(t, err)
	defer server.Close()
	client, err := netstack.New(nil)
	require.NoError(t, err)
	defer client.Close()
	// Spoofed sources are off-link, so the server answers them through its gateway (the
	// client's stack, which does not forward and drops the SYN-ACKs).
	_, err = server.AddNIC(la, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, Gateway: netip.MustParseAddr("10.0.0.2")})
	require.NoError(t, err)
	_, err = client.AddNIC(lb, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})
	require.NoError(t, err)

	ln, err := server.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	go func() { // a line echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					c.Write(line)
				}
			}()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	established, err := client.Dial(ctx, "tcp", "10.0.0.1:80")
	require.NoError(t, err)
	defer established.Close()
	echo := func(c interface {
		Write([]byte) (int, error)
		Read([]byte) (int, error)
		SetDeadline(time.Time) error
	}) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		buf := make([]byte, 5)
		_, err := bufio.NewReader(c).Read(buf)
		return err
	}
	require.NoError(t, echo(established))

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const floodSYNs, floodRate = 30000, 10000 // three seconds at 10,000 SYNs per second
	flooded := make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		start := time.Now()
		for i := range floodSYNs {
			if ahead := time.Duration(i)*time.Second/floodRate - time.Since(start); ahead > time.Millisecond {
				time.Sleep(ahead)
			}
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], 0xc6120000|rng.Uint32()&0xffff) // 198.18.0.0/16
			la.Inject(synFrame(la.MAC(), lb.MAC(), netip.AddrFrom4(a), netip.MustParseAddr("10.0.0.1"), uint16(rng.IntN(60000)+1024), rng.Uint32()))
		}
		flooded <- floodSYNs
	}()

	served, opened := 0, 0
	floodDone := false
	var sent int
	lastDial := time.Time{}
	for !floodDone {
		require.NoError(t, echo(established), "established connection during the flood")
		served++
		// New connections every 50 ms: each leaves an endpoint in TIME_WAIT for a minute, in
		// this same process, and a connection per exchange would swamp the heap measurement.
		if time.Since(lastDial) > 50*time.Millisecond {
			c, err := client.Dial(ctx, "tcp", "10.0.0.1:80")
			require.NoError(t, err, "new connection during the flood")
			require.NoError(t, echo(c))
			c.Close()
			opened++
			lastDial = time.Now()
		}
		select {
		case sent = <-flooded:
			floodDone = true
		default:
		}
	}
	runtime.GC()
	runtime.GC() // pooled buffers survive one collection in sync.Pool's victim cache
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	st := server.Stats()
	t.Logf("SYNs sent %d; during the flood %d exchanges on the established connection and %d new connections; SYN cookies/drops %d; heap %d -> %d KiB",
		sent, served, opened, st.TCP.ListenOverflowSYN, before.HeapAlloc>>10, after.HeapAlloc>>10)
	require.Greater(t, opened, 20, "new connections were served during the flood")
	require.Positive(t, st.TCP.ListenOverflowSYN, "beyond the backlog SYNs are answered with cookies")
	require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(16<<20), "heap grew with the flood")
}
