package main

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unikit/unikit/internal/apptest"
)

// start runs bin with args and returns the URL it prints and the running command.
func start(t *testing.T, bin string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	return apptest.Start(t, cmd), cmd
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

func TestHelloUserNetwork(t *testing.T) {
	bin := apptest.Build(t)
	url, cmd := start(t, bin, "-listen", "127.0.0.1:0")
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	body := fetch(t, url+"/")
	require.Contains(t, body, "hello from unikit")
	require.Contains(t, body, "userspace TCP/IP stack (-net user)")

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url + "/missing")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	apptest.Interrupt(t, cmd)
}

func TestHelloKernel(t *testing.T) {
	bin := apptest.Build(t)
	url, cmd := start(t, bin, "-net", "kernel", "-listen", "127.0.0.1:0")
	body := fetch(t, url+"/")
	require.Contains(t, body, "hello from unikit")
	require.Contains(t, body, "(-net kernel)")
	apptest.Interrupt(t, cmd)
}

func TestHelloBadFlag(t *testing.T) {
	bin := apptest.Build(t)
	out, err := exec.Command(bin, "-net", "user,nic=e1000").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "unknown user option")
}
