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
	// VhostArgs are extra net_vhost0 devargs, each starting with a comma (",tso=1").
	VhostArgs string
	// TAP, when set, adds a net_tap port whose kernel interface has this name; testpmd then
	// forwards between the vhost-user port and the kernel. It needs root.
	TAP string
	// Mode is testpmd's forwarding mode; "" means io.
	Mode string
	// Lcores is testpmd's -l list, the main lcore first and then the forwarding one; "" means
	// "0,1". Two testpmds on a two-core machine must forward on different cores, or their
	// busy polling starves both.
	Lcores string
	// Mbufs is --total-num-mbufs; 0 means 16384.
	Mbufs int
}

// Testpmd is a running testpmd.
type Testpmd struct {
	// Socket is the path of the vhost-user socket testpmd listens on.
	Socket string

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
// TAP interface, if any), or fails t after 20 s. testpmd is stopped when t ends, and its
// output logged if t failed.
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
	p := &Testpmd{Socket: filepath.Join(t.TempDir(), "vhost.sock"), out: new(netns.SyncBuffer),
		done: make(chan struct{}), prefix: fmt.Sprintf("unikit%d-%d", os.Getpid(), seq.Add(1))}
	args := []string{"-l", lcores, "--no-huge", "-m", "512", "--no-pci",
		// A unique prefix keeps concurrent testpmds from sharing runtime files.
		"--file-prefix", p.prefix,
		"--vdev", "net_vhost0,iface=" + p.Socket + o.VhostArgs}
	if o.TAP != "" {
		args = append(args, "--vdev", "net_tap0,iface="+o.TAP)
	}
	args = append(args, "--", fmt.Sprintf("--total-num-mbufs=%d", mbufs), "--forward-mode="+mode,
		"--auto-start", "--stats-period=0")

	stdin, keep, err := os.Pipe()
	require.NoError(t, err)
	p.keep = keep
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if o.NS != nil {
		p.cmd = o.NS.Command(ctx, bin, args...)
	} else {
		p.cmd = exec.CommandContext(ctx, bin, args...)
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
		_, err := os.Stat(p.Socket)
		if err == nil && (o.TAP == "" || p.hasTAP(t, o)) {
			return p
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("testpmd did not start:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
