// Package apptest runs the example programs in tests as a user would: it builds the binary,
// starts it, reads the address it prints, and stops it with SIGINT.
package apptest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Build compiles the package in the current directory into a temporary directory and returns
// the binary's path. It skips t under -short and on Windows (the programs stop on SIGINT).
func Build(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the program; skipped with -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("stops the program with SIGINT")
	}
	bin := filepath.Join(t.TempDir(), "app")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// Start starts cmd, waits for the first line it prints on standard output, and returns that
// line's URL (the first field starting with http:// or https://). The process is killed when
// the test ends if it is still running.
func Start(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
				return f
			}
		}
		t.Fatalf("no URL in the first line %q", line)
	case <-time.After(60 * time.Second):
		t.Fatal("the program printed nothing within 60 s")
	}
	return ""
}

// Interrupt sends SIGINT to cmd's process and checks that it exits with status 0 soon.
func Interrupt(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "exit after SIGINT")
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20 s of SIGINT")
	}
}
