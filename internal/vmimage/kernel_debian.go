package vmimage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoKernel is returned when no Debian kernel package can be found or fetched for an
// architecture.
var ErrNoKernel = errors.New("vmimage: no Debian kernel")

// Kernel is a Linux kernel image and the module tree built with it.
type Kernel struct {
	// Image is the kernel file that QEMU's -kernel and the unified kernel image take: an x86
	// bzImage or an arm64 Image (Debian's /boot/vmlinuz-VERSION).
	Image string
	// Modules is the kernel's module tree, a lib/modules/VERSION directory; empty when the
	// kernel has no modules.
	Modules string
	// Package names the Debian package the kernel came from, when it did.
	Package string
}

// DefaultCacheDir returns the directory where Debian kernels are kept between builds:
// unikit/kernels in the user's cache directory (os.UserCacheDir).
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "unikit", "kernels"), nil
}

// FetchDebianKernel returns Debian's current kernel for arch, unpacked in cacheDir. On first
// use it downloads the package with apt-get download (the dependency of the linux-image-ARCH
// metapackage, such as linux-image-6.1.0-57-amd64) and unpacks it with dpkg-deb -x; later
// calls find it in the cache. A foreign architecture must be known to apt first:
// dpkg --add-architecture arm64 && apt-get update. Concurrent callers, in one process or
// several, download once. When apt cannot say which package is current (no package lists),
// the newest kernel for arch already in the cache is taken, as CachedDebianKernel does.
func FetchDebianKernel(ctx context.Context, arch Arch, cacheDir string) (Kernel, error) {
	pkg, err := debianKernelPackage(ctx, arch)
	if err != nil {
		if k, ok := newestCachedKernel(arch, cacheDir); ok {
			return k, nil
		}
		return Kernel{}, err
	}
	dir := filepath.Join(cacheDir, pkg)
	if k, err := unpackedKernel(dir, pkg); err == nil {
		return k, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Kernel{}, err
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return Kernel{}, err
	}
	defer unlock()
	if k, err := unpackedKernel(dir, pkg); err == nil {
		return k, nil // another process fetched it while we waited for the lock
	}
	if err := downloadAndUnpack(ctx, pkg+":"+string(arch), cacheDir, dir); err != nil {
		return Kernel{}, err
	}
	return unpackedKernel(dir, pkg)
}

// CachedDebianKernel returns the kernel FetchDebianKernel would return without downloading
// anything, or ok false when it is not in cacheDir yet. When apt cannot say which package is
// current (no package lists), the newest kernel for arch in the cache is taken, by the
// modification time of its unpacked tree (which dpkg-deb sets from the package).
func CachedDebianKernel(ctx context.Context, arch Arch, cacheDir string) (k Kernel, ok bool) {
	if pkg, err := debianKernelPackage(ctx, arch); err == nil {
		k, err := unpackedKernel(filepath.Join(cacheDir, pkg), pkg)
		return k, err == nil
	}
	return newestCachedKernel(arch, cacheDir)
}

// newestCachedKernel returns the kernel for arch in cacheDir whose unpacked tree is newest.
func newestCachedKernel(arch Arch, cacheDir string) (k Kernel, ok bool) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return Kernel{}, false
	}
	var newest fs.FileInfo
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "linux-image-") || !strings.HasSuffix(e.Name(), "-"+string(arch)) {
			continue
		}
		if info, err := e.Info(); err == nil && (newest == nil || info.ModTime().After(newest.ModTime())) {
			newest = info
		}
	}
	if newest == nil {
		return Kernel{}, false
	}
	k, err = unpackedKernel(filepath.Join(cacheDir, newest.Name()), newest.Name())
	return k, err == nil
}

// debianKernelPackage asks apt which package the linux-image-ARCH metapackage depends on.
func debianKernelPackage(ctx context.Context, arch Arch) (string, error) {
	meta := arch.debianKernelPackage()
	out, err := command(ctx, "", "apt-cache", "depends", meta)
	if err != nil {
		hint := ""
		if arch == ARM64 {
			hint = " (is the architecture known to apt? dpkg --add-architecture arm64 && apt-get update)"
		}
		return "", fmt.Errorf("%w for %s: %v%s", ErrNoKernel, arch, err, hint)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		dep, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Depends: ")
		if !ok {
			continue
		}
		dep = strings.Trim(dep, "<>")
		dep, _, _ = strings.Cut(dep, ":") // linux-image-6.1.0-57-arm64:arm64
		if strings.HasPrefix(dep, "linux-image-") {
			return dep, nil
		}
	}
	return "", fmt.Errorf("%w for %s: apt-cache depends %s names no linux-image package", ErrNoKernel, arch, meta)
}

// fetchScratchPrefix starts the names of the scratch directories downloads are unpacked in.
const fetchScratchPrefix = ".fetch-"

// downloadAndUnpack fetches the package pkg with apt-get download into a scratch directory of
// cacheDir, unpacks it there and renames the unpacked tree to dir, so dir appears whole or not
// at all. The caller holds the cache's lock.
func downloadAndUnpack(ctx context.Context, pkg, cacheDir, dir string) error {
	// Callers hold the cache's lock, so scratch directories left here are from a fetch that
	// was killed.
	stale, _ := filepath.Glob(filepath.Join(cacheDir, fetchScratchPrefix+"*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(cacheDir, fetchScratchPrefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// apt drops privileges to _apt for downloads into a directory that user can read.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if _, err := command(ctx, tmp, "apt-get", "download", "-q", pkg); err != nil {
		return fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("%w: apt-get download %s left %d .deb files", ErrNoKernel, pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if _, err := command(ctx, tmp, "dpkg-deb", "-x", debs[0], root); err != nil {
		return fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	// A tree already at dir is one that unpackedKernel found incomplete.
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(root, dir)
}

// unpackedKernel finds the kernel image and module tree in the unpacked package at dir.
func unpackedKernel(dir, pkg string) (Kernel, error) {
	images, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return Kernel{}, fmt.Errorf("%w: %d boot/vmlinuz-* files in %s", ErrNoKernel, len(images), dir)
	}
	k := Kernel{Image: images[0], Package: pkg}
	version := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	for _, lib := range []string{"lib", "usr/lib"} {
		m := filepath.Join(dir, lib, "modules", version)
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			k.Modules = m
			break
		}
	}
	return k, nil
}

// command runs a program in dir and returns its standard output; a failure's error carries
// the end of its standard error.
func command(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return out, nil
}
