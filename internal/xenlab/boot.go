package xenlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// QEMU is the emulator Boot runs.
const QEMU = "qemu-system-aarch64"

// ErrTimeout is returned by Boot when the run did not finish in time: QEMU was killed.
var ErrTimeout = errors.New("xenlab: the boot did not finish in time; QEMU was killed")

// Marker begins each verdict line of dom0's init; the domU program's lines begin with
// DomUMarker.
const (
	Marker     = "XENLAB "
	DomUMarker = "XENLAB-DOMU "
	// EndLine is dom0's last verdict, printed before it powers the machine off.
	EndLine = Marker + "end"
)

// Result is the console of one boot.
type Result struct {
	// Lines are every line of the console, as printed.
	Lines []string
	// Wall is how long QEMU ran.
	Wall time.Duration
}

// Find returns the lines that hold marker, each from the marker on, in order.
func (r *Result) Find(marker string) []string {
	var out []string
	for _, l := range r.Lines {
		if i := strings.Index(l, marker); i >= 0 {
			out = append(out, strings.TrimRight(l[i:], "\r"))
		}
	}
	return out
}

// Ended reports whether dom0's init reached its end.
func (r *Result) Ended() bool {
	for _, l := range r.Find(Marker) {
		if l == EndLine {
			return true
		}
	}
	return false
}

// Boot runs Xen, dom0 and, through dom0's init, the domU in QEMU (TCG, 2 CPUs, 2 GiB)
// with knobs (key=value words for dom0's init) on dom0's command line, copying the console
// to console (if not nil) as it comes. It returns when QEMU exits, which dom0's init makes it
// do when done, or kills QEMU after timeout and returns ErrTimeout with what the console
// showed until then.
func (l *Lab) Boot(ctx context.Context, timeout time.Duration, knobs []string, console io.Writer) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// QEMU's option syntax splits at commas; a doubled one is a comma of the value.
	bootargs := strings.ReplaceAll(strings.Join(append([]string{"console=hvc0"}, knobs...), " "), ",", ",,")
	cmd := exec.CommandContext(ctx, QEMU,
		"-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a57",
		"-smp", "2", "-m", "2G", "-nographic", "-no-reboot", "-net", "none",
		"-kernel", l.Xen, "-append", "console=dtuart dom0_mem=512M",
		"-device", "guest-loader,addr=0x49000000,kernel="+l.Kernel+",bootargs="+bootargs,
		"-device", "guest-loader,addr=0x50000000,initrd="+l.Dom0Initrd,
	)
	// The context's end kills QEMU by its process ID (CommandContext's Cancel); WaitDelay
	// bounds the wait for the console pipe after that.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res := &Result{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		res.Lines = append(res.Lines, line)
		if console != nil {
			fmt.Fprintf(console, "[%7.2f] %s\n", time.Since(start).Seconds(), line)
		}
	}
	err = cmd.Wait()
	res.Wall = time.Since(start)
	if ctx.Err() != nil {
		return res, fmt.Errorf("%w (%v)", ErrTimeout, timeout)
	}
	if err != nil {
		return res, fmt.Errorf("xenlab: %s: %w", QEMU, err)
	}
	return res, nil
}

// Available reports what a boot needs that this machine lacks, or "" when it has all of it:
// QEMU for arm64 and apt-get and dpkg-deb for the packages.
func Available() string {
	for _, p := range []struct{ prog, pkg string }{
		{QEMU, "qemu-system-arm"}, {"apt-get", "apt"}, {"dpkg-deb", "dpkg"},
	} {
		if _, err := exec.LookPath(p.prog); err != nil {
			return p.prog + " (apt-get install " + p.pkg + ")"
		}
	}
	return ""
}
