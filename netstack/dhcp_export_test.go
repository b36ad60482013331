package netstack

import (
	"io"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/waiter"
	"sync"
	"time"
)

// This file exports the DHCP client's test seams to the package's external tests.

// StartDHCPWithClock starts n's DHCPv4 client on clk instead of the real clock. n must have
// been added with NoDHCP.
func StartDHCPWithClock(n *NIC, clk *TestClock) error { return n.startDHCPClock(clk) }

// TestClock is a manual clock for the DHCP client: time stands still until Advance.
type TestClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*testTimer
}

// NewTestClock returns a clock reading an arbitrary fixed time.
func NewTestClock() *TestClock {
	return &TestClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

type testTimer struct {
	clk  *TestClock
	when time.Time
	c    chan time.Time
}

func (t *testTimer) C() <-chan time.Time { return t.c }

func (t *testTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	for i, x := range t.clk.timers {
		if x == t {
			t.clk.timers = append(t.clk.timers[:i], t.clk.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Now returns the clock's time.
func (c *TestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock has been advanced by d.
func (c *TestClock) NewTimer(d time.Duration) dhcpTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &testTimer{clk: c, when: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	return t
}

// Advance moves the clock forward by d and fires the timers that are then due.
func (c *TestClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.when.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.c <- c.now
	}
	c.timers = kept
}

// Pending returns the deadlines of the timers that have not fired or been stopped.
func (c *TestClock) Pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, len(c.timers))
	for i, t := range c.timers {
		out[i] = t.when
	}
	return out
}

// DHCPReadsPackets reports whether n's DHCP client has a packet endpoint, so that it receives
// replies unicast to an address the NIC does not have yet (the stack needs a RawFactory and
// the NIC DeliverLinkPackets for that).
func DHCPReadsPackets(n *NIC) bool {
	var wq waiter.Queue
	ep, err := n.s.s.NewPacketEndpoint(true, header.IPv4ProtocolNumber, &wq)
	if err != nil {
		return false
	}
	ep.Close()
	return true
}

// CountLinkPackets opens a packet endpoint for every protocol on n, as the DHCP client opens
// one for IPv4, and returns a function that reports how many packets it has received so far,
// and one that closes it. Packets reach it only if n delivers link packets.
func CountLinkPackets(n *NIC) (count func() int, closeEP func()) {
	var wq waiter.Queue
	ep, err := n.s.s.NewPacketEndpoint(true, header.EthernetProtocolAll, &wq)
	if err != nil {
		panic(err.String())
	}
	if err := ep.Bind(tcpip.FullAddress{NIC: n.id}); err != nil {
		panic(err.String())
	}
	seen := 0
	count = func() int {
		for {
			if _, err := ep.Read(io.Discard, tcpip.ReadOptions{}); err != nil {
				return seen
			}
			seen++
		}
	}
	return count, ep.Close
}
