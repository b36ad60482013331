package xenlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Packages are the Debian arm64 packages dom0 is built from: the hypervisor, xl and the
// daemons with every library they load (libgcc_s too, which glibc's pthread_cancel opens at
// run time, so xl aborts without it), the vif-bridge script and the shells that run it.
var Packages = []string{
	"xen-hypervisor-4.17-arm64", "xen-utils-4.17", "xen-utils-common", "xenstore-utils",
	"libxencall1", "libxenevtchn1", "libxenforeignmemory1", "libxengnttab1", "libxenmisc4.17",
	"libxenstore4", "libxentoollog1", "libxentoolcore1", "libxendevicemodel1", "libxenhypfs1",
	"libyajl2", "libc6", "libgcc-s1", "libncurses6", "libtinfo6", "libext2fs2", "libfdt1",
	"libuuid1", "zlib1g", "libcom-err2", "busybox-static", "bash",
}

// ErrNoPackages is returned when the Debian packages cannot be downloaded or unpacked.
var ErrNoPackages = errors.New("xenlab: Debian arm64 packages not available")

// DefaultCacheDir returns where the packages are kept between runs: unikit/xenlab in the
// user's cache directory.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "unikit", "xenlab"), nil
}

// Fetch makes sure every one of Packages is in cacheDir/debs, downloading the missing ones
// with apt-get download (apt must know the arm64 architecture: dpkg --add-architecture
// arm64 && apt-get update), and returns cacheDir/root, where they are unpacked with dpkg-deb
// -x. Both steps are skipped when their result is already there.
func Fetch(ctx context.Context, cacheDir string) (string, error) {
	debDir := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return "", err
	}
	// apt drops privileges to _apt for the download, into a directory that user can read.
	if err := os.Chmod(debDir, 0o755); err != nil {
		return "", err
	}
	var missing []string
	for _, p := range Packages {
		if m, _ := filepath.Glob(filepath.Join(debDir, p+"_*_arm64.deb")); len(m) == 0 {
			missing = append(missing, p+":arm64")
		}
	}
	if len(missing) > 0 {
		if err := run(ctx, debDir, "apt-get", append([]string{"download", "-q"}, missing...)...); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoPackages, err)
		}
	}
	debs, err := filepath.Glob(filepath.Join(debDir, "*.deb"))
	if err != nil {
		return "", err
	}
	slices.Sort(debs)
	var names []string
	for _, d := range debs {
		names = append(names, filepath.Base(d))
	}
	stamp := strings.Join(names, "\n") + "\n"
	root := filepath.Join(cacheDir, "root")
	stampFile := filepath.Join(cacheDir, "root.unpacked")
	if b, err := os.ReadFile(stampFile); err == nil && string(b) == stamp {
		return root, nil
	}
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	for _, d := range debs {
		if err := run(ctx, cacheDir, "dpkg-deb", "-x", d, root); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoPackages, err)
		}
	}
	return root, os.WriteFile(stampFile, []byte(stamp), 0o644)
}

// run runs a program in dir; its error carries the program's output.
func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
