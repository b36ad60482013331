package netns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Do runs fn on a dedicated OS thread that has joined the namespace, and returns fn's error.
// Sockets (and TAP file descriptors) fn creates belong to the namespace and may be used from
// any goroutine afterwards. The thread is not reused: it ends with the goroutine, so no other
// goroutine ever runs in the namespace by accident.
func (n *NS) Do(fn func() error) error {
	h, err := os.Open("/var/run/netns/" + n.Name)
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", n.Name, err)
	}
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the Go runtime terminates a locked thread when its goroutine
		// exits, which is what keeps the namespace switch from leaking to other goroutines.
		runtime.LockOSThread()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: setns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// killGroup makes cmd run in its own process group and makes its cancellation kill the whole
// group: `ip netns exec` forks the program, so killing ip alone would leave the program behind.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
