package netstack

import (
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// DefaultTCPBufferBudget is the default of [Config].TCPBufferBudget.
const DefaultTCPBufferBudget = 8 << 20

// minTCPBuffer is the smallest TCP buffer gVisor accepts as a size option.
const minTCPBuffer = 4096

// tcpBudget shares the stack's TCP buffer budget among its connections: with n connections
// open, auto-tuning may grow a connection's send buffer, and its receive buffer, to
// budget/n at most, but never below the default size (what every connection starts with)
// and never above the configured maximum. When a connection opens and that share falls,
// send buffers that grew beyond it are shrunk to it: a send buffer holds what the application
// wrote and the peer has not acknowledged, which a peer that reads slowly leaves there. A
// receive buffer only grows while the application reads fast, so its growth is bounded and
// it is never shrunk (a receive window must not shrink).
//
// The shares are set as gVisor's stack-wide maximum buffer sizes, which its auto-tuning
// reads whenever it grows a buffer. Connections made with [NewTCPConn] are outside the
// budget.
//
// What it bounds, with the defaults (64 KiB default send buffer, 4 MiB maximum, 8 MiB budget)
// and 500 connections downloading large files: each one's share is the default, so their send
// buffers hold at most 500 × 64 KiB = 31 MiB once all are open; while they open one after
// another, each keeps what it queued under its larger share until the peer acknowledges it,
// at most the sum over the k-th connection of min(4 MiB, max(64 KiB, 8 MiB/k)) = 63 MiB.
// examples/blog's BenchmarkLoadedMemory measures the appliance against this bound. Sizes are
// limits, not allocations: an idle connection's queues are empty and hold no buffer memory
// whatever its sizes (BenchmarkIdleConnections: gVisor's share of an idle connection is its
// endpoint's own state, a few KiB).
//
// A larger floor was tried and not kept: with a 128 KiB default send buffer, 500 connections
// over TAP served 64 KiB and 1 MiB files no faster (three interleaved rounds of
// BenchmarkNetMatrix/split/{64KiB,1MiB}/c500 against the 64 KiB default, on a loaded
// 2-core machine), while the 1 MiB run's peak resident memory rose from 114–117 MiB to
// 133–155 MiB and the bound above from 63 to 88 MiB.
type tcpBudget struct {
	s *stack.Stack
	// budget is the bytes send buffers may hold together, and receive buffers; 0 means no
	// budget.
	budget                     int
	sendDefault, sendMax       int
	receiveDefault, receiveMax int

	mu sync.Mutex
	// conns are the open connections in the budget.
	conns map[*TCPConn]struct{}
	// sendShare and receiveShare are the maxima set now.
	sendShare, receiveShare int
}

// newTCPBudget returns the budget of cfg's sizes, with every connection's share at its
// maximum until one opens.
func newTCPBudget(s *stack.Stack, cfg *Config) *tcpBudget {
	b := &tcpBudget{s: s, budget: max(cfg.TCPBufferBudget, 0),
		sendDefault: cfg.TCPSendBuffer, sendMax: cfg.TCPSendBufferMax,
		receiveDefault: cfg.TCPReceiveBuffer, receiveMax: cfg.TCPReceiveBufferMax,
		conns: make(map[*TCPConn]struct{})}
	b.sendShare, b.receiveShare = b.sendMax, b.receiveMax
	return b
}

// options returns the gVisor options that set the stack's send and receive buffer sizes to
// the defaults and the given maxima.
func (b *tcpBudget) options(sendMax, receiveMax int) []tcpip.SettableTransportProtocolOption {
	return []tcpip.SettableTransportProtocolOption{
		&tcpip.TCPSendBufferSizeRangeOption{Min: minTCPBuffer, Default: b.sendDefault, Max: sendMax},
		&tcpip.TCPReceiveBufferSizeRangeOption{Min: minTCPBuffer, Default: b.receiveDefault, Max: receiveMax},
	}
}

// share returns a connection's share of the budget among n connections, between def and
// most.
func (b *tcpBudget) share(n, def, most int) int {
	if b.budget == 0 || n == 0 {
		return most
	}
	return min(most, max(def, b.budget/n))
}

// add counts c in the budget.
func (b *tcpBudget) add(c *TCPConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns[c] = struct{}{}
	b.updateLocked()
}

// remove takes c out of the budget; removing it twice is harmless.
func (b *tcpBudget) remove(c *TCPConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.conns[c]; !ok {
		return
	}
	delete(b.conns, c)
	b.updateLocked()
}

// updateLocked sets the shares for the connections open now and, when the send share fell,
// shrinks the send buffers above it. b.mu is held.
func (b *tcpBudget) updateLocked() {
	if b.budget == 0 {
		return
	}
	n := len(b.conns)
	send := b.share(n, b.sendDefault, b.sendMax)
	receive := b.share(n, b.receiveDefault, b.receiveMax)
	if send == b.sendShare && receive == b.receiveShare {
		return
	}
	// The stack's maxima first, so that auto-tuning grows nothing past the new share while
	// the connections above it are shrunk.
	for _, o := range b.options(send, receive) {
		b.s.SetTransportProtocolOption(tcp.ProtocolNumber, o) // valid: default ≤ share
	}
	fell := send < b.sendShare
	b.sendShare, b.receiveShare = send, receive
	if !fell {
		return
	}
	for c := range b.conns {
		// Without notifying the endpoint, which would turn its auto-tuning off for good: the
		// buffer may grow again, up to the share, when connections close.
		if o := c.ep.SocketOptions(); o.GetSendBufferSize() > int64(send) {
			o.SetSendBufferSize(int64(send), false)
		}
	}
}
