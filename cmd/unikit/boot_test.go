package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
	"github.com/unikit/unikit/internal/vmimage"
)

// bootMarker is what testdata/bootcheck prints when every check passed.
const bootMarker = "UNIKIT-BOOTCHECK-OK"

// bootTimeout bounds one boot under TCG. To the marker on a two-core machine, x86 took 5.6 s
// direct and 10.7 s through OVMF, arm64 2.0 s and 8.6 s, when lightly loaded; at a load
// average of 10 to 17, x86 through OVMF took 72 s.
const bootTimeout = 180 * time.Second

// TestBootAMD64 builds an image of testdata/bootcheck with unikit image and boots it with
// unikit run under qemu-system-x86_64 (TCG), directly and through OVMF from disk.img.
func TestBootAMD64(t *testing.T) { testBoot(t, vmimage.AMD64) }

// TestBootARM64 does the same under qemu-system-aarch64 -M virt, through AAVMF for UEFI.
func TestBootARM64(t *testing.T) { testBoot(t, vmimage.ARM64) }

func testBoot(t *testing.T, arch vmimage.Arch) {
	if testing.Short() {
		t.Skip("boots virtual machines under TCG")
	}
	qemu, qemuPkg := "qemu-system-x86_64", "qemu-system-x86"
	if arch == vmimage.ARM64 {
		qemu, qemuPkg = "qemu-system-aarch64", "qemu-system-arm"
	}
	peers.Program(t, qemu, qemuPkg)
	requireImageTools(t, arch)

	dir := filepath.Join(t.TempDir(), "image")
	var log bytes.Buffer
	start := time.Now()
	err := run(context.Background(), []string{
		"image", "-arch", string(arch), "-o", dir, "./testdata/bootcheck", "--", "-flag=1", "word",
	}, nil, &log, &log)
	require.NoError(t, err, log.String())
	t.Logf("unikit image took %v", time.Since(start).Round(time.Millisecond))
	for _, f := range []string{vmimage.KernelFile, vmimage.InitrdFile, vmimage.DiskFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		t.Logf("%s: %d bytes", f, fi.Size())
	}

	t.Run("kernel", func(t *testing.T) { bootImage(t, dir, false) })
	t.Run("uefi", func(t *testing.T) {
		requireFirmware(t, arch)
		bootImage(t, dir, true)
	})
}

// requireFirmware skips or fails t unless the UEFI firmware unikit run -uefi boots arch with
// is installed.
func requireFirmware(t *testing.T, arch vmimage.Arch) {
	t.Helper()
	firmware, pkg := "/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"
	if arch == vmimage.ARM64 {
		firmware, pkg = "/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64"
	}
	if _, err := os.Stat(firmware); err != nil {
		peers.Missing(t, firmware+" (apt-get install "+pkg+")")
	}
}

// requireImageTools skips or fails t unless unikit image can build an image for arch here:
// Debian's kernel is cached or may be downloaded, and objcopy and systemd-stub are installed
// or (the stub) may be downloaded.
func requireImageTools(t testing.TB, arch vmimage.Arch) {
	t.Helper()
	cacheDir, err := vmimage.DefaultCacheDir()
	require.NoError(t, err)
	if _, ok := vmimage.CachedDebianKernel(context.Background(), arch, cacheDir); !ok && !peers.Required() {
		peers.Missing(t, "Debian's "+string(arch)+" kernel in "+cacheDir+" (tests download it with apt-get only when peers are required)")
	}
	if string(arch) != runtime.GOARCH {
		triplet, pkg := "x86_64-linux-gnu", "binutils-x86-64-linux-gnu"
		if arch == vmimage.ARM64 {
			triplet, pkg = "aarch64-linux-gnu", "binutils-aarch64-linux-gnu"
		}
		peers.Program(t, triplet+"-objcopy", pkg)
	} else {
		peers.Program(t, "objcopy", "binutils")
	}
	stub := map[vmimage.Arch]string{vmimage.AMD64: "linuxx64.efi.stub", vmimage.ARM64: "linuxaa64.efi.stub"}[arch]
	if _, err := os.Stat("/usr/lib/systemd/boot/efi/" + stub); err != nil && !peers.Required() {
		peers.Missing(t, stub+" (apt-get install systemd-boot-efi:"+string(arch)+")")
	}
	if _, err := exec.LookPath("go"); err != nil {
		peers.Missing(t, "the go command, which builds the appliance")
	}
}

// bootImage boots the image in dir with unikit run and checks what the appliance printed.
func bootImage(t *testing.T, dir string, uefi bool) {
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	args := []string{"run", "-accel", "tcg", "-listen", freeAddr(t)}
	if uefi {
		args = append(args, "-uefi")
	}
	console := newMarkerWriter(bootMarker)
	var stderr bytes.Buffer
	err := run(ctx, append(args, dir), nil, console, &stderr)
	exited := console.since()
	out := console.String()
	if t.Failed() || err != nil || !strings.Contains(out, bootMarker) {
		t.Logf("console:\n%s\nstderr:\n%s", out, stderr.String())
	}
	require.NoError(t, ctx.Err(), "QEMU did not exit by itself within %v", bootTimeout)
	require.NoError(t, err, "QEMU exits 0 when the guest powers off")
	require.Contains(t, out, "bootcheck: pid=1 ", "the appliance is init")
	require.Contains(t, out, `bootcheck: args=["-flag=1" "word"]`, "the flags after -- reach the appliance through unikit.args=")
	require.Contains(t, out, "bootcheck: loaded uio.ko")
	require.Contains(t, out, "bootcheck: loaded uio_pci_generic.ko")
	require.Contains(t, out, bootMarker)
	require.Contains(t, out, "reboot: Power down", "the appliance powered the machine off")
	require.NotContains(t, out, "Kernel panic")
	t.Logf("marker after %v, QEMU exited after %v", console.markerAfter().Round(time.Millisecond), exited.Round(time.Millisecond))
}

// freeAddr returns a loopback address whose port was free a moment ago, for the host side of
// the port forward.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// markerWriter collects a console and notes when a marker first appeared in it.
type markerWriter struct {
	marker string
	start  time.Time

	mu    sync.Mutex
	buf   bytes.Buffer
	after time.Duration // when the marker appeared, 0 until it does
}

func newMarkerWriter(marker string) *markerWriter {
	return &markerWriter{marker: marker, start: time.Now()}
}

// Write implements io.Writer.
func (w *markerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.after == 0 && bytes.Contains(w.buf.Bytes(), []byte(w.marker)) {
		w.after = time.Since(w.start)
	}
	return len(p), nil
}

// String returns what was written.
func (w *markerWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// markerAfter returns how long after the writer was made the marker appeared, 0 if it did not.
func (w *markerWriter) markerAfter() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.after
}

// since returns the time since the writer was made.
func (w *markerWriter) since() time.Duration { return time.Since(w.start) }
