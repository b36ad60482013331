package main

import (
	"bufio"
	"io"
	"net/http"
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

// build compiles the program into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the program; skipped with -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("stops the program with SIGINT")
	}
	bin := filepath.Join(t.TempDir(), "hello")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// start runs bin with args and returns the URL it prints and the running command.
func start(t *testing.T, bin string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...))
}

// startCmd starts cmd, which runs the program, and returns the URL it prints.
func startCmd(t *testing.T, cmd *exec.Cmd) (string, *exec.Cmd) {
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
		// "serving on http://127.0.0.1:PORT (-net MODE)"
		f := strings.Fields(line)
		require.Len(t, f, 5, "unexpected first line %q", line)
		require.Equal(t, "serving on", f[0]+" "+f[1])
		return f[2], cmd
	case <-time.After(60 * time.Second):
		t.Fatal("the program printed nothing within 60 s")
	}
	return "", nil
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// interrupt sends SIGINT and checks that the program exits with status 0 soon.
func interrupt(t *testing.T, cmd *exec.Cmd) {
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

func TestHelloUserNetwork(t *testing.T) {
	bin := build(t)
	url, cmd := start(t, bin, "-listen", "127.0.0.1:0")
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	body := fetch(t, url+"/")
	require.Contains(t, body, "hello from unikit")
	require.Contains(t, body, "userspace TCP/IP stack (-net user)")

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/missing")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	interrupt(t, cmd)
}

func TestHelloKernel(t *testing.T) {
	bin := build(t)
	url, cmd := start(t, bin, "-net", "kernel", "-listen", "127.0.0.1:0")
	body := fetch(t, url+"/")
	require.Contains(t, body, "hello from unikit")
	require.Contains(t, body, "(-net kernel)")
	interrupt(t, cmd)
}

func TestHelloBadFlag(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "-net", "vhost-user:/nonexistent").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "not yet supported")
}
