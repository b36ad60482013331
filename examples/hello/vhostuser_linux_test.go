package main

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/apptest"
	"github.com/unikit/unikit/internal/dpdk"
	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// TestHelloThroughVhostUser runs the program with -net vhost-user:SOCK against DPDK's real
// vhost-user backend: testpmd, in a network namespace made for the test, forwards between its
// vhost-user port (the program's virtio driver) and a TAP port (net_tap) whose kernel side is
// in that namespace, where curl fetches the page from the program's static address over the
// kernel's own TCP/IP stack.
func TestHelloThroughVhostUser(t *testing.T) {
	bin := apptest.Build(t)
	peers.Root(t)
	curl := peers.Program(t, "curl", "curl")
	ns := netns.New(t)
	tap := netns.UniqueName("ukh")
	// Started before the program, so it is stopped after it (cleanups run last in, first out).
	pmd := dpdk.Start(t, &dpdk.Options{NS: ns, TAP: tap})
	ns.AddAddr(t, tap, netip.MustParsePrefix("10.79.0.1/24"))
	ns.LinkUp(t, tap)

	// The program needs no namespace: its stack is its own and the socket is a file.
	cmd := exec.Command(bin, "-net", "vhost-user:"+pmd.Socket, "-ip", "10.79.0.2/24", "-gw", "10.79.0.1")
	url := apptest.Start(t, cmd)
	require.Equal(t, "http://10.79.0.2:80", url)
	page := ns.Exec(t, curl, "-sS", "--fail", "--max-time", "20", "http://10.79.0.2/")
	require.Contains(t, page, "hello from unikit")
	require.Contains(t, page, "(-net vhost-user:"+pmd.Socket+")")
	apptest.Interrupt(t, cmd)

	out := pmd.Stop()
	require.True(t, pmd.Exited(), "testpmd still running after Stop")
	require.Contains(t, out, "Forward statistics for port 0", "testpmd did not stop cleanly:\n%s", out)
	t.Logf("testpmd statistics:\n%s", out[strings.Index(out, "Forward statistics for port 0"):])
}
