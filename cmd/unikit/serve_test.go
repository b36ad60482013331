package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/vmimage"
	"github.com/unikit/unikit/internal/vmrun"
)

// TestServeHelloAMD64 builds examples/hello with unikit image and boots it under
// qemu-system-x86_64 (TCG) with QEMU's user-mode network: inside the guest, App.Run becomes
// the init, the appliance drives virtio-net-pci with our driver (-net virtio-pci, the default
// in a guest), leases 10.0.2.15 from QEMU's DHCP server, and serves the page the host fetches
// through the port forward. The hypervisor's power button (system_powerdown on QEMU's
// monitor) then stops the appliance and powers the guest off, and QEMU exits 0.
func TestServeHelloAMD64(t *testing.T) {
	testServe(t, amd64Direct, "github.com/unikit/unikit/examples/hello", "/", helloPage)
}

// TestServeBlogAMD64 does the same with examples/blog and its embedded sample site.
func TestServeBlogAMD64(t *testing.T) {
	want, err := os.ReadFile("../../examples/blog/site/about/index.html")
	require.NoError(t, err)
	testServe(t, amd64Direct, "github.com/unikit/unikit/examples/blog", "/about/", string(want))
}

// helloPage is what examples/hello serves in a guest.
const helloPage = "hello from unikit: this page came through unikit's userspace TCP/IP stack (-net virtio-pci)\n"

// serveTarget says how testServe boots an image.
type serveTarget struct {
	arch vmimage.Arch
	// uefi boots disk.img through UEFI firmware instead of the kernel directly.
	uefi bool
	// nic is the PCI address of the virtio-net function in the machine QEMU emulates.
	nic string
}

// amd64Direct boots the amd64 kernel directly; QEMU's pc machine puts the NIC at 00:03.0.
var amd64Direct = serveTarget{arch: vmimage.AMD64, nic: "0000:00:03.0"}

// testServe boots the appliance pkg with no flags as target says and requires a 200 with
// wantBody for path.
func testServe(t *testing.T, target serveTarget, pkg, path, wantBody string) {
	if testing.Short() {
		t.Skip("boots a virtual machine under TCG")
	}
	if target.arch == vmimage.ARM64 {
		peers.Program(t, "qemu-system-aarch64", "qemu-system-arm")
	} else {
		peers.Program(t, "qemu-system-x86_64", "qemu-system-x86")
	}
	requireImageTools(t, target.arch)
	if target.uefi {
		requireFirmware(t, target.arch)
	}

	dir := filepath.Join(t.TempDir(), "image")
	var log bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"image", "-arch", string(target.arch), "-o", dir, pkg}, nil, &log, &log), log.String())
	im, err := vmimage.OpenImage(dir)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+30*time.Second)
	defer cancel()
	listen := freeAddr(t)
	monitor := filepath.Join(t.TempDir(), "monitor.sock")
	console := newMarkerWriter("virtio-pci: driving NIC")
	var stderr bytes.Buffer
	start := time.Now()
	vm, err := vmrun.Start(ctx, im, vmrun.Config{
		Listen:   listen,
		Accel:    vmrun.AccelTCG,
		UEFI:     target.uefi,
		Console:  console,
		Stderr:   &stderr,
		QEMUArgs: []string{"-monitor", "unix:" + monitor + ",server=on,wait=off"},
	})
	require.NoError(t, err)
	exited := make(chan error, 1)
	go func() { exited <- vm.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s\nstderr:\n%s", console.String(), stderr.String())
		}
	}()

	body, err := firstPage(ctx, &http.Client{}, "http://"+listen+path, exited)
	require.NoError(t, err)
	firstOK := time.Since(start)
	require.Equal(t, wantBody, body)
	out := console.String()
	require.Contains(t, out, "-net virtio-pci", "the appliance names its NIC driver")
	require.Contains(t, out, target.nic, "the driver names the PCI function it drives")
	t.Logf("QEMU start to the first 200: %v", firstOK.Round(time.Millisecond))

	// The hypervisor's "stop": an ACPI power button press, which the guest runtime turns into
	// SIGTERM for the appliance and then a power-off; -no-reboot makes QEMU exit 0.
	conn, err := net.Dial("unix", monitor)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "system_powerdown\n")
	require.NoError(t, err)
	select {
	case err := <-exited:
		require.NoError(t, err, "QEMU exits 0 when the guest powers off")
	case <-ctx.Done():
		t.Fatalf("QEMU still running %v after system_powerdown", bootTimeout)
	}
	out = console.String()
	require.Contains(t, out, "reboot: Power down", "the guest powered itself off")
	require.NotContains(t, out, "Kernel panic")
}

// firstPage polls url with client until it answers 200 and returns the body; it gives up when
// ctx is done or QEMU exits (the exit is put back for the caller).
func firstPage(ctx context.Context, client *http.Client, url string, exited chan error) (string, error) {
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, err := http.NewRequestWithContext(attempt, http.MethodGet, url, nil)
		if err != nil {
			cancel()
			return "", err
		}
		resp, err := client.Do(req)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				cancel()
				return string(b), nil
			}
		}
		cancel()
		select {
		case err := <-exited:
			exited <- err
			return "", fmt.Errorf("QEMU exited before the page was served: %v", err)
		case <-ctx.Done():
			return "", fmt.Errorf("no page from %s: %w", url, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
