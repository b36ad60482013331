package netstack_test

import (
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/unikit/unikit/internal/israce"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// stallingLink is a pipe end whose transmissions stall now and then, as a receiver's
// acknowledgements do when its process waits for a CPU on a busy host: every stallEvery-th
// Transmit call sleeps first, and the calls behind it wait for it.
//
// A stall only shows what it is meant to when it outlasts RACK-TLP's probe timeout, twice the
// sender's smoothed round-trip time, and on a loaded machine that time grows with the
// scheduler's delays. So the stall starts at minStall and doubles, up to maxStall, each time
// it has passed without the sender retransmitting. maxStall stays well below the smallest
// retransmission timeout (200 ms), which a stall must not reach: the default stack is then
// right to retransmit.
type stallingLink struct {
	*pipe.Link
	mu          sync.Mutex
	calls       int
	stall       time.Duration
	retransmits *tcpip.StatCounter // the sender's, once set by watch
}

const (
	stallEvery = 8
	minStall   = 5 * time.Millisecond
	maxStall   = 40 * time.Millisecond
)

// watch tells the link whose retransmissions decide whether its stalls grow.
func (l *stallingLink) watch(retransmits *tcpip.StatCounter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retransmits = retransmits
}

// Transmit implements link.Link.Transmit.
func (l *stallingLink) Transmit(frames []link.Frame) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls++; l.calls%stallEvery == 0 {
		if l.stall == 0 {
			l.stall = minStall
		}
		time.Sleep(l.stall)
		if l.retransmits != nil && l.retransmits.Value() == 0 {
			l.stall = min(2*l.stall, maxStall)
		}
	}
	return l.Link.Transmit(frames)
}

// bulkRetransmits sends size bytes from a server stack made with cfg to a client stack whose
// acknowledgements stall (stallingLink) and returns how many segments the server
// retransmitted, and how many retransmission timeouts fired. The pipe loses, reorders and
// duplicates nothing: every retransmission is spurious.
func bulkRetransmits(t *testing.T, cfg *netstack.Config, size int) (retransmits, timeouts uint64) {
	t.Helper()
	a, b, err := pipe.New(nil)
	require.NoError(t, err)
	acks := &stallingLink{Link: a}
	links := []link.Link{acks, b}
	stacks := make([]*netstack.Stack, 2)
	for i, c := range []*netstack.Config{nil, cfg} {
		s, err := netstack.New(c)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		_, err = s.AddNIC(links[i], &netstack.NICConfig{NoDHCP: true,
			Addresses: []netip.Prefix{netip.MustParsePrefix([]string{"10.0.0.1/24", "10.0.0.2/24"}[i])}})
		require.NoError(t, err)
		stacks[i] = s
	}
	client, server := stacks[0], stacks[1]
	st := server.TCPIP().Stats().TCP
	acks.watch(st.Retransmits)
	ln, err := server.Listen("tcp4", ":80")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })

	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		_, err = c.Write(make([]byte, size))
		sent <- err
	}()
	d, err := client.Dial(t.Context(), "tcp4", "10.0.0.2:80")
	require.NoError(t, err)
	defer d.Close()
	n, err := io.CopyN(io.Discard, d, int64(size))
	require.NoError(t, err)
	require.EqualValues(t, size, n)
	require.NoError(t, <-sent)
	return st.Retransmits.Value(), st.Timeouts.Value()
}

// TestTCPNoSpuriousRetransmitsOnLateAcks shows why the stack turns gVisor's RACK-TLP off by
// default (Config.TCPRACK): with it, acknowledgements that come a few milliseconds late make
// the sender probe and retransmit data the receiver already has; without it, the same
// transfer retransmits nothing.
func TestTCPNoSpuriousRetransmitsOnLateAcks(t *testing.T) {
	if israce.Enabled {
		t.Skip("a timing test: the race detector slows the stacks past retransmission timeouts")
	}
	const size = 16 << 20
	retransmits, timeouts := bulkRetransmits(t, nil, size)
	if timeouts > 0 {
		// A stall of the whole process beyond the timeout (at least 200 ms), not what this
		// test is about: the machine is too busy to tell.
		t.Skipf("%d retransmission timeouts fired: the machine stalled the stacks", timeouts)
	}
	require.Zero(t, retransmits, "default stack retransmitted over a lossless link")
	if testing.Short() {
		return
	}
	retransmits, _ = bulkRetransmits(t, &netstack.Config{TCPRACK: true}, size)
	require.NotZero(t, retransmits, "with RACK-TLP, late acknowledgements should cause spurious retransmissions")
}
