package pipe_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/netstack"
	"github.com/unikit/unikit/netstack/link/pipe"
)

// TestStacksCloseTogetherUnderLoad joins two stacks with a pipe of small queues, opens many
// connections, keeps data flowing both ways on every one and closes both stacks at once. Each
// stack aborts its connections one by one while the other's go on sending, and answers their
// segments with resets from the goroutine that delivers the pipe's frames, into the other
// direction's full queue: the cycle in which each delivery goroutine waits for the other (see
// the package documentation), which hung this test about one run in three before the pipe
// dropped for a stuck receiver. Both stacks must close within the time a stop is given; a
// failure shows every goroutine's stack, then closes the links to end the stacks' cleanup.
// Nothing may be dropped while the data flows.
func TestStacksCloseTogetherUnderLoad(t *testing.T) {
	const conns = 256
	s1, s2, a, b := stackPair(t, &pipe.Config{QueueDepth: 2, BatchSize: 1})
	ln, err := s2.Listen("tcp", ":5001")
	require.NoError(t, err)
	defer ln.Close()
	// Each end of each connection writes without end and reads without end.
	pump := func(c net.Conn) {
		go io.Copy(io.Discard, c)
		go func() {
			b := make([]byte, 16<<10)
			for {
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}()
	}
	pumping := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			<-pumping
			pump(c)
		}
	}()
	setup := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var clients []net.Conn
	for i := range conns {
		c, err := s1.Dial(ctx, "tcp", "10.0.0.2:5001")
		require.NoError(t, err, "connection %d", i)
		clients = append(clients, c)
	}
	close(pumping)
	for _, c := range clients {
		pump(c)
	}
	time.Sleep(200 * time.Millisecond) // both directions fill

	before := a.Stats().TxDropped + b.Stats().TxDropped
	require.Zero(t, before, "frames dropped while the data flowed")
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range []*netstack.Stack{s1, s2} {
		wg.Go(func() { s.Close() })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		t.Logf("%d connections: set up in %v, both stacks closed in %v; frames dropped before the close: %d, in all: %d",
			conns, start.Sub(setup).Round(time.Millisecond), time.Since(start).Round(time.Millisecond), before, a.Stats().TxDropped+b.Stats().TxDropped)
	case <-time.After(20 * time.Second):
		buf := make([]byte, 16<<20)
		buf = buf[:runtime.Stack(buf, true)]
		// Closing the links wakes every blocked transmitter, so that the stacks' cleanup
		// ends.
		a.Close()
		b.Close()
		<-done
		require.FailNow(t, fmt.Sprintf("the stacks did not close within 20 s; goroutines:\n%s", buf))
	}
}
