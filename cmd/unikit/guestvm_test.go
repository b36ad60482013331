package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/vmimage"
	"github.com/unikit/unikit/internal/vmrun"
)

// buildImage builds the appliance pkg with unikit image into a temporary directory, with the
// appliance flags args, and returns the directory.
func buildImage(tb testing.TB, pkg string, args ...string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "image")
	cmd := []string{"image", "-arch", "amd64", "-o", dir, pkg}
	if len(args) > 0 {
		cmd = append(append(cmd, "--"), args...)
	}
	var log bytes.Buffer
	require.NoError(tb, run(context.Background(), cmd, nil, &log, &log), log.String())
	return dir
}

// guestVM is an amd64 image booted under QEMU (TCG) with its port 80 forwarded to a free
// loopback port and QEMU's monitor on a UNIX socket.
type guestVM struct {
	vm      *vmrun.VM
	url     string // http://HOST:PORT of the forward, no trailing slash
	monitor string
	console *markerWriter
	stderr  *markerWriter
	exited  chan error
	cancel  context.CancelFunc
	// firstOK is the time from starting QEMU to the first 200.
	firstOK time.Duration
}

// bootServing boots the image in dir with mem of memory ("" for vmrun's default) and polls
// path until it answers 200, within ctx. It returns the running VM and the page, or an error
// after stopping QEMU: QEMU exited (a guest that cannot boot in that memory powers off or
// panics), or ctx ended first.
func bootServing(ctx context.Context, tb testing.TB, dir, mem, path string) (*guestVM, string, error) {
	tb.Helper()
	im, err := vmimage.OpenImage(dir)
	if err != nil {
		return nil, "", err
	}
	vctx, cancel := context.WithCancel(context.Background())
	g := &guestVM{
		url:     "http://" + freeAddr(tb),
		monitor: filepath.Join(tb.TempDir(), "monitor.sock"),
		console: newMarkerWriter("\n"),
		stderr:  newMarkerWriter("\n"),
		exited:  make(chan error, 1),
		cancel:  cancel,
	}
	start := time.Now()
	g.vm, err = vmrun.Start(vctx, im, vmrun.Config{
		Listen:   g.url[len("http://"):],
		Accel:    vmrun.AccelTCG,
		Memory:   mem,
		Console:  g.console,
		Stderr:   g.stderr,
		QEMUArgs: []string{"-monitor", "unix:" + g.monitor + ",server=on,wait=off"},
	})
	if err != nil {
		cancel()
		return nil, "", err
	}
	go func() { g.exited <- g.vm.Wait() }()
	body, err := firstPage(ctx, &http.Client{}, g.url+path, g.exited)
	if err != nil {
		g.kill()
		return nil, "", fmt.Errorf("%w\nconsole (end):\n%s", err, tail(g.console.String(), 3000))
	}
	g.firstOK = time.Since(start)
	return g, body, nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// powerOff presses the VM's power button (system_powerdown on the monitor) and waits until
// QEMU exits, which it does with status 0 once the guest has powered itself off.
func (g *guestVM) powerOff(ctx context.Context) error {
	defer g.cancel()
	conn, err := net.Dial("unix", g.monitor)
	if err != nil {
		g.kill()
		return err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "system_powerdown\n"); err != nil {
		g.kill()
		return err
	}
	select {
	case err := <-g.exited:
		return err
	case <-ctx.Done():
		g.kill()
		return fmt.Errorf("QEMU still running after system_powerdown: %w", ctx.Err())
	}
}

// kill stops QEMU without asking the guest and waits for it.
func (g *guestVM) kill() {
	g.cancel()
	<-g.exited
	g.exited <- nil // for a later kill or powerOff
}
