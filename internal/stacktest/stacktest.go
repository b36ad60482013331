package stacktest

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
)

// Offloads are the link features that let two stacks exchange checksum-less 64 KiB TSO/GRO
// super-frames.
const Offloads = link.FeatureTxCsum | link.FeatureTxTSO4 | link.FeatureTxTSO6 |
	link.FeatureRxCsum | link.FeatureRxGRO

// The static addresses of Pair's two stacks.
var (
	addr1 = netip.MustParsePrefix("10.0.0.1/24")
	addr2 = netip.MustParsePrefix("10.0.0.2/24")
)

// Pair puts stack s1 (10.0.0.1/24) on link a and stack s2 (10.0.0.2/24) on
// link b, with static addresses and no DHCP, and closes each stack (and so its link) when
// the test ends, s2 first. Callers that must close something after the stacks register
// that cleanup before calling Pair.
func Pair(tb testing.TB, a, b link.Link) (s1, s2 *netstack.Stack) {
	tb.Helper()
	return onLink(tb, a, addr1), onLink(tb, b, addr2)
}

func onLink(tb testing.TB, l link.Link, addr netip.Prefix) *netstack.Stack {
	tb.Helper()
	s, err := netstack.New(nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { s.Close() })
	_, err = s.AddNIC(l, &netstack.NICConfig{Addresses: []netip.Prefix{addr}, NoDHCP: true})
	require.NoError(tb, err)
	return s
}

// Options tune a transfer; nil or a zero field means the default.
type Options struct {
	// Chunk is the size of each Write; 0 means 128 KiB. The size of a transfer should be
	// a multiple of it: the sender writes whole chunks.
	Chunk int
	// Seed seeds the ChaCha8 stream the data is taken from.
	Seed [32]byte
	// DialTimeout bounds the dial; 0 means 30 s.
	DialTimeout time.Duration
	// Wait bounds how long the receiver may take to finish after the last write (and, with
	// Reply, how long reading the reply may take); 0 means 60 s.
	Wait time.Duration
	// Reply makes the receiver send size bytes of its own (ChaCha8 seeded {9}) once the data
	// ends, so that both directions carry bulk data: the sender then half-closes instead of
	// closing, and reads the reply and checks its digest.
	Reply bool
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Chunk == 0 {
		r.Chunk = 128 << 10
	}
	if r.DialTimeout == 0 {
		r.DialTimeout = 30 * time.Second
	}
	if r.Wait == 0 {
		r.Wait = 60 * time.Second
	}
	return r
}

// replySeed seeds the data the receiver sends back with Options.Reply.
var replySeed = [32]byte{9}

// Transfer listens on to at addr's port, dials addr from stack from, sends size pseudo-random
// bytes and checks that exactly those bytes arrived, by count and SHA-256 digest. It returns
// the time from the first write until the receiver had read everything (and, with
// Options.Reply, had sent its reply). It does not wait for the listener to accept before it
// writes: with a lossy link the handshake's last ACK may be lost, and a listener using SYN
// cookies then completes the connection only when the first data arrives.
func Transfer(tb testing.TB, from, to *netstack.Stack, addr string, size int, o *Options) time.Duration {
	tb.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(tb, err)
	ln, err := to.Listen("tcp", ":"+port)
	require.NoError(tb, err)
	return TransferTo(tb, from, ln, addr, size, o)
}

// TransferTo is Transfer to a listener of any kind (a kernel socket, say) that addr reaches
// from stack from. It accepts one connection on ln and closes ln.
func TransferTo(tb testing.TB, from *netstack.Stack, ln net.Listener, addr string, size int, o *Options) time.Duration {
	tb.Helper()
	opt := o.withDefaults()
	defer ln.Close()
	done := receive(ln, size, opt.Reply)

	ctx, cancel := context.WithTimeout(context.Background(), opt.DialTimeout)
	defer cancel()
	c, err := from.Dial(ctx, "tcp", addr)
	require.NoError(tb, err)
	defer c.Close()

	start := time.Now()
	src := rand.NewChaCha8(opt.Seed)
	h := sha256.New()
	buf := make([]byte, opt.Chunk)
	for sent := 0; sent < size; sent += len(buf) {
		_, _ = src.Read(buf)
		h.Write(buf)
		_, err := c.Write(buf)
		require.NoError(tb, err)
	}
	if opt.Reply {
		require.NoError(tb, c.(interface{ CloseWrite() error }).CloseWrite())
		back, wantBack := sha256.New(), sha256.New()
		_, _ = io.Copy(wantBack, io.LimitReader(rand.NewChaCha8(replySeed), int64(size)))
		c.SetReadDeadline(time.Now().Add(opt.Wait))
		nb, err := io.Copy(back, c)
		require.NoError(tb, err)
		require.Equal(tb, int64(size), nb)
		require.Equal(tb, wantBack.Sum(nil), back.Sum(nil), "SHA-256 of the reply")
	} else {
		require.NoError(tb, c.Close())
	}

	var r received
	select {
	case r = <-done:
	case <-time.After(opt.Wait):
		tb.Fatalf("the receiver did not finish within %v", opt.Wait)
	}
	elapsed := time.Since(start)
	require.NoError(tb, r.err)
	require.Equal(tb, int64(size), r.n)
	require.Equal(tb, [32]byte(h.Sum(nil)), r.sum, "SHA-256 of what arrived")
	return elapsed
}

// received is what the receiving side of a transfer read.
type received struct {
	n   int64
	sum [32]byte
	err error
}

// receive accepts one connection on ln in a goroutine, closes ln, reads the connection to
// its end into a SHA-256 digest and, with reply, then sends size bytes back.
func receive(ln net.Listener, size int, reply bool) <-chan received {
	done := make(chan received, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- received{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		var r received
		r.n, r.err = io.Copy(h, c)
		copy(r.sum[:], h.Sum(nil))
		if reply && r.err == nil {
			_, r.err = io.Copy(c, io.LimitReader(rand.NewChaCha8(replySeed), int64(size)))
		}
		done <- r
	}()
	return done
}
