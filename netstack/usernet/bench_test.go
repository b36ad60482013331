package usernet_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack/usernet"
)

// BenchmarkForwardBulk measures one TCP stream from a host client through a port forward to a
// sink on the guest stack: kernel loopback, the relay, the gateway stack, the link and the
// guest stack.
func BenchmarkForwardBulk(b *testing.B) {
	for _, tc := range []struct {
		name      string
		noOffload bool
	}{{"offload", false}, {"no-offload", true}} {
		b.Run(tc.name, func(b *testing.B) {
			n := newNetwork(b, &usernet.Config{
				NoOffload: tc.noOffload,
				Forwards:  []usernet.Forward{{Host: "127.0.0.1:0", GuestPort: 9}},
			})
			s := guest(b, n, false)
			ln, err := s.Listen("tcp", ":9")
			require.NoError(b, err)
			got := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- 0
					return
				}
				k, _ := io.Copy(io.Discard, c)
				c.Close()
				got <- k
			}()
			defer ln.Close()
			c, err := net.Dial("tcp", n.ForwardAddrs()[0].String())
			require.NoError(b, err)
			c.SetDeadline(time.Now().Add(5 * time.Minute))
			chunk := make([]byte, 256<<10)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			require.Equal(b, int64(b.N)*int64(len(chunk)), <-got)
		})
	}
}
