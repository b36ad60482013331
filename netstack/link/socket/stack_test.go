package socket

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
)

// newStack returns a stack that logs to the test log and is closed when the test ends.
func newStack(t *testing.T) *netstack.Stack {
	t.Helper()
	s, err := netstack.New(&netstack.Config{Logger: quietConfig(t).Logger})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStacksOverUnixSocket connects two stacks through socket.Listen and socket.Dial over a
// UNIX socket, with static addresses, and checks a TCP transfer of a few MiB in each
// direction by digest.
func TestStacksOverUnixSocket(t *testing.T) {
	const size = 4 << 20
	path := filepath.Join(t.TempDir(), "stacks.sock")
	srvLink, err := Listen("unix", path, quietConfig(t))
	require.NoError(t, err)
	cliLink, err := Dial(context.Background(), "unix", path, quietConfig(t))
	require.NoError(t, err)

	s1, s2 := newStack(t), newStack(t)
	_, err = s1.AddNIC(srvLink, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.1/24")}})
	require.NoError(t, err)
	_, err = s2.AddNIC(cliLink, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.2/24")}})
	require.NoError(t, err)

	ln, err := s1.Listen("tcp", ":5001")
	require.NoError(t, err)
	defer ln.Close()
	// The server echoes exactly size bytes.
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_, err = io.CopyN(c, c, size)
		srvErr <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := s2.Dial(ctx, "tcp", "10.77.0.1:5001")
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	data := make([]byte, size)
	rand.Read(data)
	wrErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, bytes.NewReader(data))
		wrErr <- err
	}()
	h := sha256.New()
	n, err := io.CopyN(h, c, size)
	require.NoError(t, err)
	require.Equal(t, int64(size), n)
	require.NoError(t, <-wrErr)
	require.NoError(t, <-srvErr)
	want := sha256.Sum256(data)
	require.Equal(t, want[:], h.Sum(nil), "echoed data digest")

	st1, st2 := srvLink.Stats(), cliLink.Stats()
	require.Greater(t, st1.RxBytes, uint64(size))
	require.Greater(t, st2.RxBytes, uint64(size))
	require.Zero(t, st1.RxErrors+st1.RxDropped+st2.RxErrors+st2.RxDropped)
}

// BenchmarkStacksTCP measures one TCP stream between two stacks joined by socket links over a
// UNIX socket (MTU 1500 and 65520), the path a unikernel behind passt or QEMU uses.
func BenchmarkStacksTCP(b *testing.B) {
	for _, mtu := range []int{1500, 65520} {
		b.Run("mtu"+strconv.Itoa(mtu), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.sock")
			cfg := &Config{MTU: mtu, Logger: slog.New(slog.DiscardHandler)}
			srvLink, err := Listen("unix", path, cfg)
			require.NoError(b, err)
			cliLink, err := Dial(context.Background(), "unix", path, cfg)
			require.NoError(b, err)
			var stacks []*netstack.Stack
			for i, l := range []*Link{srvLink, cliLink} {
				s, err := netstack.New(&netstack.Config{Logger: slog.New(slog.DiscardHandler)})
				require.NoError(b, err)
				defer s.Close()
				addr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 78, 0, byte(i + 1)}), 24)
				_, err = s.AddNIC(l, &netstack.NICConfig{Addresses: []netip.Prefix{addr}})
				require.NoError(b, err)
				stacks = append(stacks, s)
			}
			ln, err := stacks[0].Listen("tcp", ":5002")
			require.NoError(b, err)
			defer ln.Close()
			done := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- -1
					return
				}
				n, _ := io.Copy(io.Discard, c)
				c.Close()
				done <- n
			}()
			c, err := stacks[1].Dial(context.Background(), "tcp", "10.78.0.1:5002")
			require.NoError(b, err)
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			require.Equal(b, int64(b.N*len(buf)), <-done)
		})
	}
}
