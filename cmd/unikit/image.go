package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/unikit/unikit/internal/vmimage"
)

// imageHelp heads the help of unikit image.
const imageHelp = `Usage: unikit image [-arch amd64|arm64] [-kernel FILE [-modules DIR]] [-o DIR] PKG [-- appliance flags]

Builds the Go main package PKG (an import path, or a directory such as ./examples/hello) as a
static Linux binary for the architecture and writes the image directory DIR:

  DIR/vmlinuz     the kernel
  DIR/initrd.img  the initramfs: the appliance as /init and the kernel modules it loads
                  (uio, uio_pci_generic, button, evdev and their dependencies; when the
                  appliance flags say -net kernel, also Linux's virtio_pci and virtio_net) and
                  the kernel's modules.builtin; no shell, no libc
  DIR/cmdline     the kernel command line, with the appliance flags after "--"
  DIR/disk.img    a raw GPT disk whose EFI system partition holds a unified kernel image of the
                  three: UEFI firmware boots it on its own, and a KVM cloud can import it

Without -kernel, the kernel and its modules are Debian's kernel package for the architecture,
downloaded with "apt-get download" (the dependency of linux-image-ARCH) and unpacked with
dpkg-deb into a cache (%s), once. For arm64, apt must know the architecture
first: dpkg --add-architecture arm64 && apt-get update. With -kernel FILE, -modules DIR names
that kernel's module tree (a lib/modules/VERSION directory); without it the initramfs holds no
modules. The unified kernel image needs systemd-stub (systemd-boot-efi, fetched the same way
for a foreign architecture) and objcopy (binutils, binutils-aarch64-linux-gnu for arm64).

Boot the image with: unikit run DIR

Flags:
`

// imageCommand runs unikit image.
func imageCommand(ctx context.Context, args []string, stderr io.Writer) error {
	cacheDir, err := vmimage.DefaultCacheDir()
	if err != nil {
		cacheDir = ""
	}
	fs := flag.NewFlagSet("unikit image", flag.ContinueOnError)
	arch := fs.String("arch", string(vmimage.AMD64), "guest `ARCH`itecture: amd64 or arm64")
	kernel := fs.String("kernel", "", "kernel image `FILE` to boot (an x86 bzImage or arm64 Image) instead of Debian's")
	modules := fs.String("modules", "", "module tree `DIR` of -kernel (lib/modules/VERSION)")
	addModules := fs.String("add-modules", "", "comma-separated `LIST` of more kernel modules for the initramfs, with their dependencies (-net kernel in the appliance flags adds virtio_pci,virtio_net by itself)")
	out := fs.String("o", "", "image directory `DIR` to write (default NAME-ARCH, NAME the last element of PKG)")
	fs.StringVar(&cacheDir, "cache", cacheDir, "`DIR` that keeps downloaded Debian packages")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), imageHelp, cacheDir)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	pkg, applianceArgs, err := splitPackageArgs(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "unikit image:", err)
		fs.Usage()
		return errUsage
	}
	a, err := vmimage.ParseArch(*arch)
	if err != nil {
		return err
	}
	if *modules != "" && *kernel == "" {
		return fmt.Errorf("-modules goes with -kernel: without -kernel the modules come with Debian's kernel")
	}
	dir := *out
	if dir == "" {
		dir = defaultImageDir(pkg, a)
	}
	var extra []string
	for _, m := range strings.Split(*addModules, ",") {
		if m = strings.TrimSpace(m); m != "" {
			extra = append(extra, m)
		}
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	im, err := vmimage.Build(ctx, vmimage.Config{
		Package:      pkg,
		Arch:         a,
		Args:         applianceArgs,
		Kernel:       *kernel,
		Modules:      *modules,
		ExtraModules: extra,
		CacheDir:     cacheDir,
		Log:          log,
	}, dir)
	if err != nil {
		return err
	}
	var names []string
	for _, m := range im.Modules {
		names = append(names, m.Name)
	}
	log.Info("image written", "dir", im.Dir, "arch", im.Arch, "modules", strings.Join(names, ","), "cmdline", im.Cmdline)
	for _, f := range []string{im.Kernel, im.Initrd, im.Disk} {
		if fi, err := os.Stat(f); err == nil {
			log.Info("file", "path", f, "bytes", fi.Size())
		}
	}
	return nil
}

// defaultImageDir names the image directory of pkg for arch NAME-ARCH, NAME being the last
// element of the package's import path or directory (hello-amd64 for ./examples/hello).
func defaultImageDir(pkg string, arch vmimage.Arch) string {
	name := strings.TrimRight(pkg, "/")
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../") || filepath.IsAbs(name) {
		if abs, err := filepath.Abs(pkg); err == nil {
			name = abs
		}
	}
	return filepath.Base(name) + "-" + string(arch)
}

// splitPackageArgs splits the arguments after the flags into the package and the appliance's
// flags, which follow a "--".
func splitPackageArgs(args []string) (pkg string, applianceArgs []string, err error) {
	switch {
	case len(args) == 0:
		return "", nil, fmt.Errorf("no package named")
	case len(args) > 1 && args[1] != "--":
		return "", nil, fmt.Errorf("unexpected %q after the package: flags of unikit image go before PKG, the appliance's after --", args[1])
	case len(args) > 1:
		return args[0], args[2:], nil
	}
	return args[0], nil, nil
}

// dropTime leaves the time out of log lines: they report a command's progress.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
