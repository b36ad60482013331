package netns

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
)

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("ukva"), UniqueName("ukva")
	require.NotEqual(t, a, b)
	require.LessOrEqual(t, len(a), 15)
	require.True(t, strings.HasPrefix(a, "ukva"))
	require.Len(t, UniqueName("averylongprefix"), 15)
}

// TestVethBetweenNamespaces joins two namespaces with a veth pair and has the kernels talk TCP,
// with the listener made through Do and the client through `ip netns exec` - both ways of
// running inside a namespace.
func TestVethBetweenNamespaces(t *testing.T) {
	n1, n2 := New(t), New(t)
	a, b := Veth(t, n1, n2)
	n1.AddAddr(t, a, netip.MustParsePrefix("10.99.0.1/24"))
	n2.AddAddr(t, b, netip.MustParsePrefix("10.99.0.2/24"))
	n1.AddAddr(t, a, netip.MustParsePrefix("fd00:99::1/64"))
	n2.AddAddr(t, b, netip.MustParsePrefix("fd00:99::2/64"))
	n2.WaitAddr(t, b, netip.MustParseAddr("fd00:99::2"), 5*time.Second)

	// A listener created inside n2 belongs to n2 even when served from another goroutine.
	var ln net.Listener
	require.NoError(t, n2.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "[::]:0")
		return err
	}))
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	done := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		buf, _ := io.ReadAll(c)
		done <- string(buf)
	}()

	// The same port is not reachable from the test's own namespace...
	d := net.Dialer{Timeout: 300 * time.Millisecond}
	if c, err := d.Dial("tcp", net.JoinHostPort("10.99.0.2", strconv.Itoa(port))); err == nil {
		c.Close()
		t.Fatal("listener in a test namespace reachable from the root namespace")
	}
	// ...but from n1, through the veth pair.
	require.NoError(t, n1.Do(func() error {
		c, err := net.Dial("tcp", net.JoinHostPort("fd00:99::2", strconv.Itoa(port)))
		if err != nil {
			return err
		}
		_, err = c.Write([]byte("hello through veth"))
		c.Close()
		return err
	}))
	select {
	case got := <-done:
		require.Equal(t, "hello through veth", got)
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}

	// Programs run inside the namespace see its interfaces only.
	links := n1.Exec(t, "ip", "-o", "link", "show")
	require.Contains(t, links, a)
	require.NotContains(t, links, b)
}

func TestAddTAP(t *testing.T) {
	n := New(t)
	name := UniqueName("uktap")
	n.AddTAP(t, name, true)
	n.AddAddr(t, name, netip.MustParsePrefix("10.98.0.1/24"))
	n.LinkUp(t, name)
	n.SetMTU(t, name, 9000)
	out := n.IP(t, "-d", "link", "show", name)
	require.Contains(t, out, "mtu 9000")
	require.Contains(t, out, "tun type tap")
}

func TestStartKillsAtCleanup(t *testing.T) {
	n := New(t)
	cmd, out := n.Start(t, "sh", "-c", "echo started; sleep 600")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "started") },
		5*time.Second, 10*time.Millisecond)
	require.NotNil(t, cmd.Process)
}

func TestCommandPing(t *testing.T) {
	n1, n2 := New(t), New(t)
	a, b := Veth(t, n1, n2)
	n1.AddAddr(t, a, netip.MustParsePrefix("10.97.0.1/24"))
	n2.AddAddr(t, b, netip.MustParsePrefix("10.97.0.2/24"))
	ping := peers.Program(t, "ping", "iputils-ping")
	out, err := n1.Command(context.Background(), ping, "-c", "2", "-i", "0.2", "-W", "2", "10.97.0.2").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "2 received")
}
