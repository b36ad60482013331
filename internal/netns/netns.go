package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unikit/unikit/internal/peers"
)

// NS is a network namespace created for one test. Its loopback interface is up.
type NS struct {
	// Name is the namespace's name as `ip netns` knows it.
	Name string
}

// ipPath returns the path of iproute2's ip program, skipping or failing t when it is missing
// or the test does not run as root.
func ipPath(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		peers.Missing(t, "Linux network namespaces (GOOS="+runtime.GOOS+")")
	}
	peers.Root(t)
	return peers.Program(t, "ip", "iproute2")
}

// UniqueName returns prefix followed by a random hex suffix, at most 15 bytes long so that it
// is valid as a Linux interface name (IFNAMSIZ-1). prefix should be short (at most 7 bytes).
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := prefix + hex.EncodeToString(b[:])
	if len(s) > 15 {
		s = s[:15]
	}
	return s
}

// New creates a network namespace with a unique name, brings its loopback up and deletes it
// (with everything still in it) when t ends. It needs root and iproute2.
func New(t testing.TB) *NS {
	t.Helper()
	ip := ipPath(t)
	name := fmt.Sprintf("unikit-%d-%s", os.Getpid(), UniqueName(""))
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name}
	t.Cleanup(func() {
		if out, err := exec.Command(ip, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.IP(t, "link", "set", "lo", "up")
	return n
}

// run runs `ip args...` and fails t with its output on error; it returns standard output.
func run(t testing.TB, args ...string) string {
	t.Helper()
	ip := ipPath(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(ip, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ip %s: %v: %s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// IP runs `ip -n NAME args...` (iproute2 inside the namespace), fails t on error and returns
// its standard output.
func (n *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"-n", n.Name}, args...)...)
}

// RootIP runs `ip args...` in the test process's own (usually the initial) namespace, fails t
// on error and returns its standard output.
func RootIP(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, args...)
}

// Command returns a command that runs name with args inside the namespace, through
// `ip netns exec`. Cancelling ctx kills the program together with everything it started (its
// process group).
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "/usr/sbin/ip"
	}
	cmd := exec.CommandContext(ctx, ip, append([]string{"netns", "exec", n.Name, name}, args...)...)
	killGroup(cmd)
	return cmd
}

// Exec runs name with args inside the namespace, waits for it and fails t if it fails; it
// returns the combined output.
func (n *NS) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	ipPath(t)
	out, err := n.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %s %s: %v: %s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Start starts name with args inside the namespace in the background, with its output
// collected in the returned buffer, and kills and reaps it when t ends.
func (n *NS) Start(t testing.TB, name string, args ...string) (*exec.Cmd, *SyncBuffer) {
	t.Helper()
	ipPath(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := n.Command(ctx, name, args...)
	out := new(SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s in %s: %v", name, n.Name, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	return cmd, out
}

// SyncBuffer is a bytes.Buffer safe for concurrent Write and String, for a background
// command's output.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// AddAddr assigns prefix (for example 10.0.0.1/24 or fd00::1/64) to the interface ifname in
// the namespace. IPv6 addresses skip duplicate address detection (nodad) so that they are
// usable at once.
func (n *NS) AddAddr(t testing.TB, ifname string, prefix netip.Prefix) {
	t.Helper()
	args := []string{"addr", "add", prefix.String(), "dev", ifname}
	if prefix.Addr().Is6() {
		args = append(args, "nodad")
	}
	n.IP(t, args...)
}

// AddUplink gives the namespace a default route through a veth pair with both ends inside it
// (uk0, addressed prefix, and uk1), for a program such as passt that mirrors the addresses of
// the default-route interface and needs one, while nothing can leave the namespace.
func (n *NS) AddUplink(t testing.TB, prefix netip.Prefix, gateway netip.Addr) {
	t.Helper()
	n.IP(t, "link", "add", "uk0", "type", "veth", "peer", "name", "uk1")
	n.AddAddr(t, "uk0", prefix)
	n.LinkUp(t, "uk0")
	n.LinkUp(t, "uk1")
	n.IP(t, "route", "add", "default", "via", gateway.String())
}

// LinkUp brings the interface ifname in the namespace up.
func (n *NS) LinkUp(t testing.TB, ifname string) {
	t.Helper()
	n.IP(t, "link", "set", ifname, "up")
}

// SetMTU sets the MTU of the interface ifname in the namespace.
func (n *NS) SetMTU(t testing.TB, ifname string, mtu int) {
	t.Helper()
	n.IP(t, "link", "set", ifname, "mtu", fmt.Sprint(mtu))
}

// MoveLink moves the interface ifname from the test process's namespace into n. A TAP device's
// file descriptor opened before the move stays usable: the process keeps the fd while the
// kernel side of the device lives in n. The interface is down after the move.
func (n *NS) MoveLink(t testing.TB, ifname string) {
	t.Helper()
	run(t, "link", "set", ifname, "netns", n.Name)
}

// AddTAP creates a persistent TAP device named ifname inside the namespace (`ip tuntap add`),
// deleted with the namespace. vnetHdr adds the vnet_hdr flag. A process attaches to it by
// opening /dev/net/tun from inside the namespace, for example within [NS.Do].
func (n *NS) AddTAP(t testing.TB, ifname string, vnetHdr bool) {
	t.Helper()
	args := []string{"tuntap", "add", "dev", ifname, "mode", "tap"}
	if vnetHdr {
		args = append(args, "vnet_hdr")
	}
	n.IP(t, args...)
}

// Veth creates a veth pair with unique names and returns them: a lives in na and b in nb;
// a nil namespace means the test process's own. Both ends are up, without addresses. The pair
// is deleted when t ends (or with either namespace).
func Veth(t testing.TB, na, nb *NS) (a, b string) {
	t.Helper()
	a, b = UniqueName("ukva"), UniqueName("ukvb")
	args := []string{}
	if na != nil {
		args = append(args, "-n", na.Name)
	}
	args = append(args, "link", "add", a, "type", "veth", "peer", "name", b)
	if nb != nil {
		args = append(args, "netns", nb.Name)
	}
	run(t, args...)
	t.Cleanup(func() {
		del := []string{}
		if na != nil {
			del = append(del, "-n", na.Name)
		}
		// Gone already if a namespace was deleted first; nothing to report then.
		_ = exec.Command(ipPathNoTest(), append(del, "link", "del", a)...).Run()
	})
	for _, end := range []struct {
		ns   *NS
		name string
	}{{na, a}, {nb, b}} {
		if end.ns != nil {
			end.ns.LinkUp(t, end.name)
		} else {
			run(t, "link", "set", end.name, "up")
		}
	}
	return a, b
}

func ipPathNoTest() string {
	if p, err := exec.LookPath("ip"); err == nil {
		return p
	}
	return "/usr/sbin/ip"
}

// WaitAddr waits until the interface ifname in the namespace has addr and it is no longer
// tentative (IPv6 duplicate address detection), or fails t after timeout.
func (n *NS) WaitAddr(t testing.TB, ifname string, addr netip.Addr, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := n.IP(t, "-o", "addr", "show", "dev", ifname)
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, " "+addr.String()+"/") && !strings.Contains(line, "tentative") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("netns %s: %s has no usable address %s: %s", n.Name, ifname, addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ErrNotLinux is returned by [NS.Do] on systems without network namespaces.
var ErrNotLinux = errors.New("netns: network namespaces need Linux")
