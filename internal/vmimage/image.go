package vmimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// The files of an image directory.
const (
	KernelFile  = "vmlinuz"    // the kernel, for QEMU's -kernel
	InitrdFile  = "initrd.img" // the initramfs, for -initrd
	CmdlineFile = "cmdline"    // the kernel command line, for -append
	DiskFile    = "disk.img"   // the raw GPT disk that UEFI firmware boots
)

// ErrNotImage is returned by OpenImage for a directory that lacks an image's files.
var ErrNotImage = errors.New("vmimage: not an image directory")

// Config says what image Build makes. Only Package is required.
type Config struct {
	// Package is the appliance's Go main package: an import path, or a directory relative to
	// Dir such as ./examples/hello.
	Package string
	// Dir is the directory go build runs in, which resolves Package; empty is the current one.
	Dir string
	// Arch is the guest architecture; empty means AMD64.
	Arch Arch
	// Args are the appliance's flags, carried on the kernel command line (KernelCmdline).
	Args []string
	// Kernel is the kernel image to boot. Empty means Debian's current kernel for Arch,
	// fetched into CacheDir (FetchDebianKernel).
	Kernel string
	// Modules is Kernel's module tree, a lib/modules/VERSION directory; ignored without
	// Kernel. With Kernel and no Modules, the initramfs holds no modules: the kernel must have
	// what the appliance needs built in.
	Modules string
	// ExtraModules names modules the initramfs holds besides ApplianceModules; their
	// dependencies come along. KernelNetModules are added by themselves when Args ask for
	// -net kernel (WantsKernelNet).
	ExtraModules []string
	// CacheDir holds fetched Debian packages; empty means DefaultCacheDir.
	CacheDir string
	// Log receives progress messages; nil discards them.
	Log *slog.Logger
}

// Image is an image directory: what Build writes and OpenImage reads.
type Image struct {
	// Dir is the image directory.
	Dir string
	// Arch is the architecture the kernel boots.
	Arch Arch
	// Kernel, Initrd and Disk are the paths of the image's files in Dir.
	Kernel, Initrd, Disk string
	// Cmdline is the kernel command line.
	Cmdline string
	// Modules are the modules in the initramfs, in load order; only Build fills it.
	Modules []Module
}

// Build builds the appliance cfg.Package and writes an image of it to dir, creating dir if
// needed: the kernel as vmlinuz, the initramfs as initrd.img (the appliance as /init and its
// modules, WriteInitramfs), the kernel command line as cmdline, and a disk that UEFI firmware
// boots as disk.img (a unified kernel image with the same three, WriteUKI and WriteDisk).
func Build(ctx context.Context, cfg Config, dir string) (Image, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	arch := cfg.Arch
	if arch == "" {
		arch = AMD64
	}
	if _, err := ParseArch(string(arch)); err != nil {
		return Image{}, err
	}
	cmdline, err := KernelCmdline(arch, cfg.Args)
	if err != nil {
		return Image{}, err
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return Image{}, err
		}
	}

	kernel, modules, builtin, err := kernelAndModules(ctx, cfg, arch, cacheDir, log)
	if err != nil {
		return Image{}, err
	}

	tmp, err := os.MkdirTemp("", "unikit-image-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(tmp)
	log.Info("building the appliance", "package", cfg.Package, "goarch", arch)
	appliancePath := filepath.Join(tmp, "init")
	if err := BuildAppliance(ctx, cfg.Dir, cfg.Package, arch, appliancePath); err != nil {
		return Image{}, err
	}
	appliance, err := os.ReadFile(appliancePath)
	if err != nil {
		return Image{}, err
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Image{}, err
	}
	im := Image{
		Dir: dir, Arch: arch, Cmdline: cmdline, Modules: modules,
		Kernel: filepath.Join(dir, KernelFile),
		Initrd: filepath.Join(dir, InitrdFile),
		Disk:   filepath.Join(dir, DiskFile),
	}
	var initrd bytes.Buffer
	if err := WriteInitramfs(&initrd, appliance, modules, builtin); err != nil {
		return Image{}, err
	}
	if err := writeFileAtomic(im.Initrd, initrd.Bytes()); err != nil {
		return Image{}, err
	}
	if err := copyFile(im.Kernel, kernel.Image); err != nil {
		return Image{}, err
	}
	if err := writeFileAtomic(filepath.Join(dir, CmdlineFile), []byte(cmdline+"\n")); err != nil {
		return Image{}, err
	}

	stub, err := FindEFIStub(ctx, arch, cacheDir)
	if err != nil {
		return Image{}, err
	}
	uki := filepath.Join(tmp, "uki.efi")
	err = WriteUKI(ctx, arch, UKI{
		Stub: stub, Kernel: im.Kernel, Initrd: im.Initrd, Cmdline: cmdline,
		OSRelease: fmt.Sprintf("NAME=unikit\nID=unikit\nPRETTY_NAME=%q\n", "unikit appliance "+cfg.Package),
	}, uki)
	if err != nil {
		return Image{}, err
	}
	if err := WriteDisk(im.Disk, arch, uki); err != nil {
		return Image{}, err
	}
	return im, nil
}

// kernelAndModules finds the kernel an image boots, cfg's or Debian's, checks it boots arch,
// resolves the modules the initramfs holds in its module tree, and reads the tree's
// modules.builtin (nil if it has none).
func kernelAndModules(ctx context.Context, cfg Config, arch Arch, cacheDir string, log *slog.Logger) (Kernel, []Module, []byte, error) {
	kernel := Kernel{Image: cfg.Kernel, Modules: cfg.Modules}
	if cfg.Kernel == "" {
		log.Info("fetching Debian's kernel package (cached after the first time)", "arch", arch, "cache", cacheDir)
		var err error
		if kernel, err = FetchDebianKernel(ctx, arch, cacheDir); err != nil {
			return Kernel{}, nil, nil, err
		}
		log.Info("kernel", "package", kernel.Package, "image", kernel.Image)
	}
	got, err := KernelArch(kernel.Image)
	if err != nil {
		return Kernel{}, nil, nil, err
	}
	if got != arch {
		return Kernel{}, nil, nil, fmt.Errorf("%w: %s boots %s, the image is for %s", ErrUnknownArch, kernel.Image, got, arch)
	}
	if kernel.Modules == "" {
		log.Warn("no module tree: the initramfs holds no kernel modules")
		return kernel, nil, nil, nil
	}
	names := append(ApplianceModules(arch), cfg.ExtraModules...)
	if WantsKernelNet(cfg.Args) {
		log.Info("the appliance's flags say -net kernel: adding Linux's virtio-net driver", "modules", KernelNetModules())
		names = append(names, KernelNetModules()...)
	}
	modules, err := ResolveModules(kernel.Modules, names)
	if err != nil {
		return Kernel{}, nil, nil, err
	}
	builtin, err := os.ReadFile(filepath.Join(kernel.Modules, BuiltinFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Kernel{}, nil, nil, err
	}
	return kernel, modules, builtin, nil
}

// OpenImage reads the image directory dir: it checks the files are there, reads the kernel
// command line and says which architecture the kernel boots.
func OpenImage(dir string) (Image, error) {
	im := Image{
		Dir:    dir,
		Kernel: filepath.Join(dir, KernelFile),
		Initrd: filepath.Join(dir, InitrdFile),
		Disk:   filepath.Join(dir, DiskFile),
	}
	for _, f := range []string{im.Kernel, im.Initrd, im.Disk} {
		if _, err := os.Stat(f); err != nil {
			return Image{}, fmt.Errorf("%w: %v", ErrNotImage, err)
		}
	}
	line, err := os.ReadFile(filepath.Join(dir, CmdlineFile))
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	im.Cmdline = strings.TrimSpace(string(line))
	if im.Arch, err = KernelArch(im.Kernel); err != nil {
		return Image{}, err
	}
	return im, nil
}

// writeFileAtomic writes data to a scratch file beside p and renames it to p, so p is never
// seen half written.
func writeFileAtomic(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// copyFile copies the file src to dst, through a scratch file beside dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
