package dpdk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/netns"
	"github.com/unikit/unikit/internal/peers"
)

// Options describes one testpmd. The zero value is a vhost-user port alone, forwarding in io
// mode (which sends every frame straight back on a single port).
type Options struct {
	// NS is the network namespace testpmd runs in, where net_tap creates its TAP device;
	// nil means the test process's own namespace.
	NS *netns.NS
	// Socket is the vhost-user socket's path; "" means a new one in a temporary directory.
	// A test that restarts the backend passes the first one's Socket again.
	Socket string
	// Frontend makes testpmd DPDK's own virtio driver (a net_virtio_user port connecting to
	// Socket, which must be set) instead of the vhost-user backend listening on it: the
	// reference the Go driver is measured against.
	Frontend bool
	// VhostArgs are extra net_vhost0 (or net_virtio_user0) devargs, each starting with a
	// comma (",tso=1").
	VhostArgs string
	// Pair adds a second vhost-user port, listening on Socket2, so that testpmd (in io
	// mode) forwards between two frontends: a switch between two virtio drivers.
	Pair bool
	// TAP, when set, adds a net_tap port whose kernel interface has this name; testpmd then
	// forwards between the vhost-user port and the kernel. It needs root.
	TAP string
	// Mode is testpmd's forwarding mode; "" means io.
	Mode string
	// Lcores is testpmd's -l list, the main lcore first and then the forwarding one; "" means
	// "0,1". The first is passed as --main-lcore, since DPDK otherwise makes the lowest the
	// main one: two testpmds on a two-core machine must forward on different cores, or their
	// busy polling starves both.
	Lcores string
	// Mbufs is --total-num-mbufs; 0 means 16384.
	Mbufs int
	// Args are further testpmd application arguments ("--txpkts=64").
	Args []string
}

// Testpmd is a running testpmd.
type Testpmd struct {
	// Socket is the path of the vhost-user socket testpmd listens on (or, for a
	// Frontend, connects to).
	Socket string
	// Socket2 is the second port's socket, with Options.Pair.
	Socket2 string

	cmd    *exec.Cmd
	keep   *os.File // write end of testpmd's standard input: closing it stops testpmd
	cancel context.CancelFunc
	out    *netns.SyncBuffer
	done   chan struct{} // closed once testpmd has exited and been reaped
	prefix string        // --file-prefix: the name of testpmd's runtime directory
	once   sync.Once
}

var seq atomic.Int32

// Start starts testpmd as o describes and waits until its vhost-user socket exists (and its
// TAP interface, if any), or fails t after 20 s; a Frontend is waited for until it
// forwards. testpmd is stopped when t ends, and its output logged if t failed.
func Start(t testing.TB, o *Options) *Testpmd {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	bin := peers.Program(t, "dpdk-testpmd", "dpdk-dev")
	mode, lcores, mbufs := o.Mode, o.Lcores, o.Mbufs
	if mode == "" {
		mode = "io"
	}
	if lcores == "" {
		lcores = "0,1"
	}
	if mbufs == 0 {
		mbufs = 16384
	}
	p := &Testpmd{Socket: o.Socket, out: new(netns.SyncBuffer),
		done: make(chan struct{}), prefix: fmt.Sprintf("unikit%d-%d", os.Getpid(), seq.Add(1))}
	if p.Socket == "" {
		require.False(t, o.Frontend, "a frontend needs the backend's socket")
		p.Socket = filepath.Join(t.TempDir(), "vhost.sock")
	}
	main, _, _ := strings.Cut(lcores, ",")
	vdev := "net_vhost0,iface=" + p.Socket + o.VhostArgs
	if o.Frontend {
		vdev = "net_virtio_user0,path=" + p.Socket + o.VhostArgs
	}
	args := []string{"-l", lcores, "--main-lcore", main, "--no-huge", "-m", "512", "--no-pci",
		// A unique prefix keeps concurrent testpmds from sharing runtime files.
		"--file-prefix", p.prefix, "--vdev", vdev}
	if o.Pair {
		p.Socket2 = filepath.Join(t.TempDir(), "vhost2.sock")
		args = append(args, "--vdev", "net_vhost1,iface="+p.Socket2+o.VhostArgs)
	}
	if o.TAP != "" {
		args = append(args, "--vdev", "net_tap0,iface="+o.TAP)
	}
	args = append(args, "--", fmt.Sprintf("--total-num-mbufs=%d", mbufs), "--forward-mode="+mode,
		"--auto-start", "--stats-period=0")
	args = append(args, o.Args...)

	stdin, keep, err := os.Pipe()
	require.NoError(t, err)
	p.keep = keep
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	// testpmd's standard output is a pipe, which C buffers fully; line buffering lets
	// started see a frontend's "Press enter to exit" when it is printed.
	args = append([]string{"-oL", bin}, args...)
	if o.NS != nil {
		p.cmd = o.NS.Command(ctx, "stdbuf", args...)
	} else {
		p.cmd = exec.CommandContext(ctx, "stdbuf", args...)
	}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = stdin, p.out, p.out
	p.cmd.WaitDelay = 5 * time.Second
	err = p.cmd.Start()
	stdin.Close()
	if err != nil {
		keep.Close()
		cancel()
		t.Fatalf("start testpmd: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		out := p.Stop()
		if t.Failed() {
			t.Logf("testpmd output:\n%s", out)
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		if p.started(t, o) {
			return p
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("testpmd did not start:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// started reports whether testpmd is ready: it has begun forwarding and, for a backend, its
// sockets and TAP interface exist. A socket file exists from bind(); testpmd listens on it
// only when it starts the port, before it starts forwarding, and a frontend dialing in
// between is refused.
func (p *Testpmd) started(t testing.TB, o *Options) bool {
	if !strings.Contains(p.out.String(), "Press enter to exit") {
		return false
	}
	if o.Frontend {
		return true
	}
	for _, sock := range []string{p.Socket, p.Socket2} {
		if _, err := os.Stat(sock); sock != "" && err != nil {
			return false
		}
	}
	return o.TAP == "" || p.hasTAP(t, o)
}

// hasTAP reports whether the TAP interface o.TAP exists yet.
func (p *Testpmd) hasTAP(t testing.TB, o *Options) bool {
	if o.NS != nil {
		return strings.Contains(o.NS.IP(t, "link", "show"), o.TAP)
	}
	return strings.Contains(netns.RootIP(t, "link", "show"), o.TAP)
}

// Stop stops testpmd and returns its output, which ends with the forwarding statistics when
// testpmd stopped cleanly. testpmd stops when its standard input closes; if it has not exited
// 10 s later it is killed (with everything it started). Its runtime directory (a few MB
// under /var/run/dpdk, which DPDK leaves behind) is removed. Stop may be called more than once.
func (p *Testpmd) Stop() string {
	p.once.Do(func() {
		p.keep.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cancel()
			<-p.done
		}
		p.cancel()
		p.removeRuntimeDir()
	})
	return p.out.String()
}

// Exited reports whether testpmd's process has exited and been reaped.
func (p *Testpmd) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// PID is testpmd's process ID (stdbuf and ip netns exec exec it in place), for reading its
// CPU time from /proc.
func (p *Testpmd) PID() int { return p.cmd.Process.Pid }

// Output returns what testpmd has printed so far.
func (p *Testpmd) Output() string { return p.out.String() }

// removeRuntimeDir removes the directory of DPDK's runtime files for this testpmd's prefix.
func (p *Testpmd) removeRuntimeDir() { RemoveRuntimeDir(p.prefix) }

// RemoveRuntimeDir removes the directory of runtime files DPDK leaves for a --file-prefix:
// /var/run/dpdk/PREFIX for root, $XDG_RUNTIME_DIR/dpdk/PREFIX (or /tmp/dpdk/PREFIX) otherwise.
func RemoveRuntimeDir(prefix string) {
	base := "/var/run"
	if os.Geteuid() != 0 {
		base = os.Getenv("XDG_RUNTIME_DIR")
		if base == "" {
			base = os.TempDir()
		}
	}
	_ = os.RemoveAll(filepath.Join(base, "dpdk", prefix))
}
