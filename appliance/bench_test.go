package appliance_test

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkUserBulk measures one TCP stream from the host through the user-mode network's
// port forward to a sink on the stack, with the stack attached directly (-net user) and
// through each NIC driver against its device model (-net user,nic=...), in the same run:
//
//	go test ./appliance -run '^$' -bench UserBulk -benchtime 256x
func BenchmarkUserBulk(b *testing.B) {
	for _, mode := range []string{"user", "user,nic=virtio", "user,nic=xen"} {
		b.Run(mode, func(b *testing.B) {
			f, err := parse(b, "-net", mode, "-listen", "127.0.0.1:0")
			require.NoError(b, err)
			f.Logger = slog.New(slog.DiscardHandler)
			n, err := f.Open(b.Context(), 80)
			require.NoError(b, err)
			defer n.Close()
			ln, err := n.Listen(80)
			require.NoError(b, err)
			sunk := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					sunk <- 0
					return
				}
				m, _ := io.Copy(io.Discard, c)
				c.Close()
				sunk <- m
			}()
			c, err := net.Dial("tcp", n.Addr(80).String())
			require.NoError(b, err)
			chunk := make([]byte, 256<<10)
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
			got := <-sunk
			b.StopTimer()
			c.Close()
			require.Equal(b, int64(b.N)*int64(len(chunk)), got)
		})
	}
}
