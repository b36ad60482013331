package netstack_test

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/stacktest"
	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// exchangeStats is what one request/response run over a pipe cost.
type exchangeStats struct {
	serverFrames, clientFrames uint64 // frames each end's link transmitted
	server                     netstack.NICStats
}

// requestResponse joins two stacks with a pipe, with the given ACK hold on both NICs, and runs
// n exchanges on one connection: a 100-byte request, a 4 KiB response, each checked byte
// for byte.
func requestResponse(t *testing.T, hold time.Duration, n int) exchangeStats {
	t.Helper()
	a, b, err := pipe.New(&pipe.Config{Features: stacktest.Offloads})
	require.NoError(t, err)
	stackOn := func(l *pipe.Link, addr string) (*netstack.Stack, *netstack.NIC) {
		s, err := netstack.New(nil)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		nic, err := s.AddNIC(l, &netstack.NICConfig{Addresses: []netip.Prefix{netip.MustParsePrefix(addr)},
			NoDHCP: true, AckHold: hold})
		require.NoError(t, err)
		return s, nic
	}
	client, _ := stackOn(a, "10.0.0.1/24")
	server, _ := stackOn(b, "10.0.0.2/24")

	request := bytes.Repeat([]byte("q"), 100)
	response := make([]byte, 4096)
	for i := range response {
		response[i] = byte(i * 7)
	}
	ln, err := server.Listen("tcp", ":80")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		buf := make([]byte, len(request))
		for range n {
			if _, err := io.ReadFull(c, buf); err != nil {
				served <- err
				return
			}
			if !bytes.Equal(buf, request) {
				served <- io.ErrUnexpectedEOF
				return
			}
			if _, err := c.Write(response); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "tcp", "10.0.0.2:80")
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	got := make([]byte, len(response))
	for i := range n {
		_, err := c.Write(request)
		require.NoError(t, err)
		_, err = io.ReadFull(c, got)
		require.NoError(t, err, "exchange %d", i)
		require.Equal(t, response, got, "exchange %d", i)
	}
	require.NoError(t, <-served)
	var st exchangeStats
	st.clientFrames, st.serverFrames = a.Stats().TxFrames, b.Stats().TxFrames
	st.server = server.Stats().NICs[0]
	return st
}

// TestAckHoldRequestResponse runs request/response traffic between two stacks with the ACK
// hold on and off: with it on, the server's response carries the acknowledgement of the
// request its TCP would otherwise have sent alone, so the server transmits about one frame
// per exchange instead of two, and the same bytes arrive.
func TestAckHoldRequestResponse(t *testing.T) {
	const n = 200
	off := requestResponse(t, -1, n)
	// A long hold, so that a loaded machine's scheduling does not let it expire.
	on := requestResponse(t, 50*time.Millisecond, n)
	t.Logf("server frames: %d with the hold (%d held, %d superseded, %d expired), %d without; client frames %d, %d",
		on.serverFrames, on.server.AckHeld, on.server.AckSuperseded, on.server.AckExpired, off.serverFrames,
		on.clientFrames, off.clientFrames)
	assert.Zero(t, off.server.AckHeld)
	assert.GreaterOrEqual(t, off.serverFrames, uint64(2*n), "without the hold: a response and a pure ACK per exchange")
	assert.Less(t, on.serverFrames, off.serverFrames-n/2, "the hold saved at least every other pure ACK")
	assert.Greater(t, on.server.AckSuperseded, uint64(n/2))
}
