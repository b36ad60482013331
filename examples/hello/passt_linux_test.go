package main

import (
	"context"
	"github.com/unikit/unikit/internal/apptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// TestHelloThroughPasst runs the program with -net socket:PATH against passt, the real
// user-mode network QEMU uses: the stack takes its address from passt's DHCP server, and curl
// fetches the page through passt's port forward from 127.0.0.1. Everything runs in a network
// namespace made for the test, whose only route leads to a veth pair inside it, so passt has
// an interface to mirror and no way out.
func TestHelloThroughPasst(t *testing.T) {
	bin := apptest.Build(t)
	peers.Root(t)
	passt := peers.Program(t, "passt", "passt")
	curl := peers.Program(t, "curl", "curl")
	ns := netns.New(t)
	ns.AddUplink(t, netip.MustParsePrefix("10.214.0.2/24"), netip.MustParseAddr("10.214.0.1"))

	// passt drops to the user nobody before binding its socket: the directory must be
	// writable and every parent searchable for nobody (t.TempDir's parent is not).
	dir, err := os.MkdirTemp("", "unikit-hello-passt-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	sock := filepath.Join(dir, "passt.sock")
	const hostPort = 18080 // inside the test's own namespace, so no clash with the host
	_, out := ns.Start(t, passt, "-f", "-e", "-1", "-4", "-s", sock, "-t", "127.0.0.1/"+strconv.Itoa(hostPort)+":80")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("passt output:\n%s", out.String())
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "UNIX domain socket bound") },
		10*time.Second, 10*time.Millisecond, "passt did not bind its socket")

	cmd := ns.Command(context.Background(), bin, "-net", "socket:"+sock)
	url := apptest.Start(t, cmd)
	// The stack serves on the address passt leased to it: passt mirrors uk0's address.
	require.Equal(t, "http://10.214.0.2:80", url)
	page := ns.Exec(t, curl, "-sS", "--max-time", "10", "http://127.0.0.1:"+strconv.Itoa(hostPort)+"/")
	require.Contains(t, page, "hello from unikit")
	require.Contains(t, page, "(-net socket:"+sock+")")
	apptest.Interrupt(t, cmd)
}
