package netstack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/unikit/unikit/internal/allocs"
	"github.com/unikit/unikit/internal/israce"
	"github.com/unikit/unikit/netstack"
)

// TestTCPConnNettest runs x/net's conformance test for net.Conn over two stacks joined by a
// pipe link, once with the dialed end as the connection under test and once with the
// accepted end.
func TestTCPConnNettest(t *testing.T) {
	p := newStackPair(t)
	ln, err := p.server.Listen("tcp4", ":0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	for _, tc := range []struct {
		name     string
		accepted bool
	}{{"Dialed", false}, {"Accepted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				accepted, dialed, err := p.dialAccept(ln)
				if err != nil {
					return nil, nil, nil, err
				}
				stop = func() {
					dialed.Close()
					accepted.Close()
				}
				if tc.accepted {
					return accepted, dialed, stop, nil
				}
				return dialed, accepted, stop, nil
			})
		})
	}
}

// TestTCPConnAddrs checks that both ends name each other with *net.TCPAddr.
func TestTCPConnAddrs(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	require.IsType(t, &net.TCPAddr{}, d.LocalAddr())
	require.IsType(t, &net.TCPAddr{}, d.RemoteAddr())
	assert.Equal(t, d.LocalAddr().String(), a.RemoteAddr().String())
	assert.Equal(t, d.RemoteAddr().String(), a.LocalAddr().String())
	assert.Equal(t, addr1, d.LocalAddr().(*net.TCPAddr).IP.String())
	assert.Equal(t, addr2, d.RemoteAddr().(*net.TCPAddr).IP.String())
}

// TestTCPConnCloseWrite checks a half-close: the peer reads what was sent, then io.EOF, and
// can still answer on the other direction, which the half-closed end still reads.
func TestTCPConnCloseWrite(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	_, err := d.Write([]byte("request"))
	require.NoError(t, err)
	require.NoError(t, d.CloseWrite())

	got, err := io.ReadAll(a) // ends at the FIN, with io.EOF (ReadAll returns nil for it)
	require.NoError(t, err)
	assert.Equal(t, "request", string(got))
	n, err := a.Read(make([]byte, 1))
	assert.Zero(t, n)
	assert.Equal(t, io.EOF, err, "io.EOF unwrapped, as package net returns it")

	_, err = a.Write([]byte("answer"))
	require.NoError(t, err)
	require.NoError(t, a.Close())
	got, err = io.ReadAll(d)
	require.NoError(t, err)
	assert.Equal(t, "answer", string(got))

	_, err = d.Write([]byte("more"))
	require.ErrorIs(t, err, syscall.EPIPE, "write after CloseWrite")
}

// TestTCPConnCloseRead checks that Reads after CloseRead return io.EOF.
func TestTCPConnCloseRead(t *testing.T) {
	p := newStackPair(t)
	d, _ := p.conns(t)
	require.NoError(t, d.CloseRead())
	_, err := d.Read(make([]byte, 1))
	assert.Equal(t, io.EOF, err)
}

// TestTCPConnDeadline checks that a Read past its deadline fails with an error that is
// os.ErrDeadlineExceeded and a net.Error whose Timeout is true, in package net's
// *net.OpError, and that removing the deadline lets the connection carry on.
func TestTCPConnDeadline(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	require.NoError(t, d.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	start := time.Now()
	_, err := d.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)
	assert.Equal(t, "tcp4", oe.Net)
	assert.Equal(t, d.LocalAddr(), oe.Source)
	assert.Equal(t, d.RemoteAddr(), oe.Addr)

	require.NoError(t, d.SetReadDeadline(time.Time{}))
	_, err = a.Write([]byte("x"))
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = io.ReadFull(d, b)
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
}

// TestTCPConnReset checks that a peer's reset reaches a Read as ECONNRESET. The peer resets
// by closing with data it has not read, as Linux does.
func TestTCPConnReset(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	_, err := d.Write([]byte("partly read"))
	require.NoError(t, err)
	_, err = io.ReadFull(a, make([]byte, 1)) // the rest has arrived with it
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, d.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = d.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)
}

// TestTCPConnClosed checks the errors of a closed connection: net.ErrClosed for every
// operation, a second Close included, as package net's connections report it.
func TestTCPConnClosed(t *testing.T) {
	p := newStackPair(t)
	d, _ := p.conns(t)
	require.NoError(t, d.Close())
	_, err := d.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = d.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, d.Close(), net.ErrClosed)
	assert.ErrorIs(t, d.CloseWrite(), net.ErrClosed)
	assert.ErrorIs(t, d.SetDeadline(time.Now()), net.ErrClosed)
}

// TestTCPConnCloseUnblocks checks that Close wakes a blocked Read with net.ErrClosed.
func TestTCPConnCloseUnblocks(t *testing.T) {
	p := newStackPair(t)
	d, _ := p.conns(t)
	errc := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, d.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
}

// TestTCPConnWriteBuffers sends many buffers of random sizes, larger together than the send
// buffer, with one WriteBuffers and checks that they arrive intact and in order, and that v is
// consumed as net.Buffers.WriteTo consumes it.
func TestTCPConnWriteBuffers(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var want []byte
	var v net.Buffers
	for range 300 {
		b := make([]byte, rng.IntN(20000)) // some empty
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		v = append(v, b)
		want = append(want, b...)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(a)
		got <- b
	}()
	n, err := d.WriteBuffers(&v)
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), n)
	assert.Empty(t, v, "WriteBuffers consumes v")
	require.NoError(t, d.CloseWrite())
	assert.True(t, bytes.Equal(want, <-got), "the bytes arrived intact and in order")
}

// TestTCPConnWriteBuffersOneSegment checks the point of gathered writes: a head and a body in
// separate buffers leave the stack as one segment.
func TestTCPConnWriteBuffersOneSegment(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	before := p.clientData.Count()
	v := net.Buffers{[]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"), bytes.Repeat([]byte("b"), 1000)}
	want := len(v[0]) + len(v[1])
	_, err := d.WriteBuffers(&v)
	require.NoError(t, err)
	_, err = io.ReadFull(a, make([]byte, want))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), p.clientData.Count()-before, "frames with data the writer sent")
}

// TestTCPConnConcurrentWrites checks that concurrent Writes never interleave.
func TestTCPConnConcurrentWrites(t *testing.T) {
	p := newStackPair(t)
	d, a := p.conns(t)
	const writers, size = 8, 100_000
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := d.Write(bytes.Repeat([]byte{byte('a' + i)}, size))
			assert.NoError(t, err)
		})
	}
	go func() {
		wg.Wait()
		d.CloseWrite()
	}()
	got, err := io.ReadAll(a)
	require.NoError(t, err)
	require.Len(t, got, writers*size)
	for i := 0; i < len(got); i += size {
		assert.Equal(t, bytes.Repeat(got[i:i+1], size), got[i:i+size], "write at %d interleaved", i)
	}
}

// TestTCPConnAllocs counts what a Write and the Read of its bytes allocate in steady state,
// with and without deadlines, plain and gathered, across every goroutine (the stacks' and the
// pipe's included), in 1000 round trips of 1 KiB, each two frames (data and its ACK).
//
// The connections alone allocate nothing (TestTCPConnNoAlloc), and neither does the path
// through the stacks per frame: gVisor's default queueing discipline, which allocated once
// per frame sent, is replaced by the stack's own (qdisc.go). What remains is gVisor's receive
// buffer auto-tuning: tcp.Endpoint.ModerateRecvBuf, which Read calls as gVisor's gonet does,
// allocates 24 bytes (maxReceiveBufferSize's option struct escapes through an interface)
// whenever the bytes the connection has read in one round-trip time reach a new high. A young
// connection still sets such records now and then: most runs count 0, some 1 or 2, in every
// one of allocs.Measure's five attempts. The bound is maxRecords; an allocation per round trip
// would count 1000, one per frame 2000.
func TestTCPConnAllocs(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	p := newStackPair(t)
	d, a := p.conns(t)
	allocs.NoGC(t)
	msg := bytes.Repeat([]byte("m"), 1024)
	buf := make([]byte, len(msg))
	iov := make([][]byte, 2)
	var v net.Buffers
	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"Write", func() error { _, err := d.Write(msg); return err }},
		{"WriteBuffers", func() error {
			iov[0], iov[1] = msg[:100], msg[100:]
			v = iov
			_, err := d.WriteBuffers(&v)
			return err
		}},
	} {
		for _, deadline := range []bool{false, true} {
			var dl time.Time
			if deadline {
				dl = time.Now().Add(time.Hour)
			}
			require.NoError(t, d.SetDeadline(dl))
			require.NoError(t, a.SetDeadline(dl))
			var err error
			roundTrip := func() {
				if e := tc.write(); e != nil {
					err = e
				}
				if _, e := io.ReadFull(a, buf); e != nil {
					err = e
				}
			}
			// A new connection's first thousand or so round trips still fill gVisor's
			// buffer pools and the runtime's caches of waiting goroutines; steady state
			// is what is measured.
			for range 2000 {
				roundTrip()
			}
			// maxRecords bounds the receive buffer's new highs in 1000 round trips (see
			// above).
			const maxRecords = 4
			r := allocs.Measure(1000, 0, roundTrip).Per(1, "round trips")
			require.NoError(t, err)
			t.Logf("%s (deadline %v): %v", tc.name, deadline, r)
			assert.LessOrEqual(t, r.Mallocs, uint64(maxRecords), "%s (deadline %v): %v", tc.name, deadline, r)
		}
	}
}

// TestDialRefused checks that dialing a port nobody listens on fails with ECONNREFUSED, in a
// *net.OpError for "dial" naming the address.
func TestDialRefused(t *testing.T) {
	p := newStackPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.client.Dial(ctx, "tcp", net.JoinHostPort(addr2, "9"))
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "dial", oe.Op)
	assert.Equal(t, "tcp", oe.Net)
	assert.Equal(t, addr2+":9", oe.Addr.String())
	assert.Equal(t, "dial tcp "+addr2+":9: connect: connection refused", err.Error())
}

// TestDialContextEnds checks that a dial whose handshake cannot finish (nobody answers ARP
// for the address) ends with its context, with the context's error as package net's Dialer
// reports it, and leaves no endpoint behind.
func TestDialContextEnds(t *testing.T) {
	p := newStackPair(t)
	before := len(p.client.TCPIP().RegisteredEndpoints())
	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := p.client.Dial(ctx, "tcp", "10.0.0.77:80")
		require.ErrorIs(t, err, context.Canceled)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "dial", oe.Op)
		assert.False(t, oe.Timeout())
	})
	t.Run("DeadlineExceeded", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := p.client.Dial(ctx, "tcp", "10.0.0.77:80")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	})
	require.Eventually(t, func() bool {
		return len(p.client.TCPIP().RegisteredEndpoints()) == before
	}, 5*time.Second, 10*time.Millisecond, "the abandoned endpoints are released")
}

// TestListenAddrInUse checks that listening twice on one port fails with EADDRINUSE, in a
// *net.OpError for "listen".
func TestListenAddrInUse(t *testing.T) {
	p := newStackPair(t)
	ln, err := p.server.Listen("tcp4", ":8080")
	require.NoError(t, err)
	defer ln.Close()
	_, err = p.server.Listen("tcp4", ":8080")
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "listen", oe.Op)
	assert.Equal(t, "listen tcp4 :8080: bind: address already in use", err.Error())
}

// TestListenerClose checks that Close wakes a blocked Accept with net.ErrClosed, and that
// Accept after Close and a second Close report it too.
func TestListenerClose(t *testing.T) {
	p := newStackPair(t)
	ln, err := p.server.Listen("tcp", ":0")
	require.NoError(t, err)
	require.IsType(t, &net.TCPAddr{}, ln.Addr())
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, ln.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "accept", oe.Op)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
	_, err = ln.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, ln.Close(), net.ErrClosed)
}

// TestListenerDeadline checks Accept's deadline.
func TestListenerDeadline(t *testing.T) {
	p := newStackPair(t)
	ln, err := p.server.Listen("tcp", ":0")
	require.NoError(t, err)
	defer ln.Close()
	tl := ln.(*netstack.TCPListener)
	require.NoError(t, tl.SetDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = ln.Accept()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded))
	require.NoError(t, tl.SetDeadline(time.Time{}))
	_, a, err := p.dialAccept(ln)
	require.NoError(t, err)
	a.Close()
}
