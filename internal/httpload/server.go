package httpload

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
)

// Start starts the server cmd, with its output on this process's standard error, and waits
// until addr accepts connections from inside ns (nil: this namespace). The server is killed
// when t ends.
func Start(t testing.TB, ns *netns.NS, addr string, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stderr
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	WaitListening(t, ns, addr)
	return cmd
}

// WaitListening waits up to 20 s until addr accepts a TCP connection from inside ns (nil:
// this namespace), and fails t otherwise.
func WaitListening(t testing.TB, ns *netns.NS, addr string) {
	t.Helper()
	dial := func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if ns != nil {
			err = ns.Do(dial)
		} else {
			err = dial()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing accepts connections on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
