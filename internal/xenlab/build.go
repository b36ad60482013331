package xenlab

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/unikit/unikit/guest"
	"github.com/unikit/unikit/internal/vmimage"
)

// dom0Init is dom0's /init: it starts xenstored and the Xen daemons, builds bridge xenbr0,
// creates the domU and runs the checks its knobs ask for, printing the verdicts.
//
//go:embed dom0-init.sh
var dom0Init []byte

// Package paths of the programs Build compiles for linux/arm64.
const (
	domUPackage   = "github.com/unikit/unikit/internal/xenlab/domu"
	clientPackage = "github.com/unikit/unikit/internal/xenlab/client"
)

// xenImage is the hypervisor in the unpacked packages: an arm64 Image that QEMU's -kernel
// boots.
const xenImage = "boot/xen-4.17-arm64"

// dom0Modules are the modules dom0's init loads, in an order kmod works out with their
// dependencies: the Xen devices xl and xenstored use, netback and the bridge.
var dom0Modules = []string{"xen-privcmd", "xenfs", "xen-evtchn", "xen-gntdev", "xen-gntalloc", "xen-netback", "bridge"}

// ProbePlaceholder, as a value in Config.DomUArgs, is replaced by dom0's init with its
// xlab_probe knob, so that boots of one Build can differ in it.
const ProbePlaceholder = "@PROBE@"

// DomUMAC is the domU's vif address, which the reconnect check gives xl network-attach again.
const DomUMAC = "00:16:3e:00:00:02"

// Config says what Build makes. Dir is required.
type Config struct {
	// Dir receives the dom0 initramfs.
	Dir string
	// CacheDir keeps the Debian packages between runs; empty means DefaultCacheDir.
	CacheDir string
	// KernelCacheDir keeps Debian's arm64 kernel between runs; empty means vmimage's
	// DefaultCacheDir, where the VM image builder keeps it too.
	KernelCacheDir string
	// GoDir is the directory go build runs in; it must be inside this module. Empty means
	// the current directory.
	GoDir string
	// DomUArgs are the flags of the domU's program, on its kernel command line.
	DomUArgs []string
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// Lab is what Build made: the files one boot needs.
type Lab struct {
	// Xen is the hypervisor, Kernel the Linux Image that boots as dom0 (and, copied into
	// dom0's initramfs, as the domU), Dom0Initrd dom0's uncompressed cpio initramfs.
	Xen, Kernel, Dom0Initrd string
}

// Build fetches the packages and the kernel, compiles the domU's program and dom0's client
// for linux/arm64, and writes dom0's initramfs, which holds the domU's kernel, initramfs
// and xl configuration.
func Build(ctx context.Context, cfg Config) (*Lab, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var err error
	if cfg.CacheDir == "" {
		if cfg.CacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if cfg.KernelCacheDir == "" {
		if cfg.KernelCacheDir, err = vmimage.DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	log.Info("fetching Debian's arm64 Xen packages (cached)", "cache", cfg.CacheDir)
	root, err := Fetch(ctx, cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	kernel, err := vmimage.FetchDebianKernel(ctx, vmimage.ARM64, cfg.KernelCacheDir)
	if err != nil {
		return nil, err
	}
	if kernel.Modules == "" {
		return nil, fmt.Errorf("xenlab: kernel package %s has no modules", kernel.Package)
	}
	domU := filepath.Join(cfg.Dir, "domu")
	client := filepath.Join(cfg.Dir, "client")
	log.Info("building the domU's program and dom0's client for linux/arm64")
	if err := vmimage.BuildAppliance(ctx, cfg.GoDir, domUPackage, vmimage.ARM64, domU); err != nil {
		return nil, err
	}
	if err := vmimage.BuildAppliance(ctx, cfg.GoDir, clientPackage, vmimage.ARM64, client); err != nil {
		return nil, err
	}
	domUInitrd, err := domUInitramfs(kernel, domU)
	if err != nil {
		return nil, err
	}
	lab := &Lab{
		Xen:        filepath.Join(root, xenImage),
		Kernel:     kernel.Image,
		Dom0Initrd: filepath.Join(cfg.Dir, "dom0-initrd.cpio"),
	}
	f, err := os.Create(lab.Dom0Initrd)
	if err != nil {
		return nil, err
	}
	err = writeDom0(f, root, kernel, domUInitrd, client, domUConfig(cfg.DomUArgs))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return lab, nil
}

// domUInitramfs returns the domU's initramfs: its program as /init, with the modules of the
// guest runtime and of -net xen, and Linux's xen-netfront, which the program loads only
// after closing our netfront, for the comparison.
func domUInitramfs(kernel vmimage.Kernel, program string) ([]byte, error) {
	names := append(vmimage.ApplianceModules(vmimage.ARM64), guest.XenModules()...)
	names = append(names, "xen-netfront")
	mods, err := vmimage.ResolveModules(kernel.Modules, names)
	if err != nil {
		return nil, err
	}
	builtin, err := os.ReadFile(filepath.Join(kernel.Modules, vmimage.BuiltinFile))
	if err != nil {
		return nil, err
	}
	app, err := os.ReadFile(program)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := vmimage.WriteInitramfs(&b, app, mods, builtin); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// domUConfig returns the xl configuration of the domU: one vCPU, 256 MiB and a vif on
// xenbr0, with the program's flags on its kernel command line.
func domUConfig(args []string) string {
	return fmt.Sprintf(`name = "domu"
kernel = "/domu/Image"
ramdisk = "/domu/initrd.gz"
extra = "console=hvc0 loglevel=4 %s"
memory = 256
vcpus = 1
vif = [ 'mac=%s,bridge=xenbr0' ]
`, guest.EncodeArgs(args), DomUMAC)
}

// writeDom0 writes dom0's initramfs: busybox and bash, glibc and the Xen libraries, the Xen
// tools and daemons, Debian's /etc/xen (vif-bridge and its helpers), the modules with their
// load order in /mods/order, the client, the domU's files in /domu, and the init script.
func writeDom0(w *os.File, root string, kernel vmimage.Kernel, domUInitrd []byte, client, domUCfg string) error {
	a := newArchive(w)
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "root", "var/lib/xen", "var/log/xen", "var/lock"} {
		if err := a.dir(d); err != nil {
			return err
		}
	}
	if err := a.write(cpio.CharDev("dev/console", 0o600, 5, 1)); err != nil {
		return err
	}
	if err := a.symlink("var/run", "../run"); err != nil {
		return err
	}
	for _, c := range []struct{ src, dst string }{
		{"lib/aarch64-linux-gnu", "lib/aarch64-linux-gnu"},
		{"lib/ld-linux-aarch64.so.1", "lib/ld-linux-aarch64.so.1"},
		{"usr/lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu"},
		{"usr/lib/xen-4.17", "usr/lib/xen-4.17"},
		{"usr/lib/xen-common", "usr/lib/xen-common"},
		{"etc/xen", "etc/xen"},
		{"bin/bash", "bin/bash"},
		{"bin/busybox", "bin/busybox"},
	} {
		if err := a.copy(filepath.Join(root, c.src), c.dst); err != nil {
			return err
		}
	}
	// The xenstore-* tools are hard links to one program; vif-bridge uses a few of them.
	tools, _ := filepath.Glob(filepath.Join(root, "usr/bin/xenstore*"))
	for _, t := range tools {
		if err := a.copy(t, "usr/bin/"+filepath.Base(t)); err != nil {
			return err
		}
	}
	mods, err := vmimage.ResolveModules(kernel.Modules, dom0Modules)
	if err != nil {
		return err
	}
	var order []string
	for _, m := range mods {
		if err := a.copy(m.Path, "mods/"+m.Name+".ko"); err != nil {
			return err
		}
		order = append(order, m.Name)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm uint64
	}{
		{"mods/order", []byte(strings.Join(order, "\n") + "\n"), 0o644},
		{"etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644},
		{"etc/group", []byte("root:x:0:\n"), 0o644},
		{"domu/initrd.gz", domUInitrd, 0o644},
		{"domu/domu.cfg", []byte(domUCfg), 0o644},
		{"init", dom0Init, 0o755},
	} {
		if err := a.file(f.name, f.data, f.perm); err != nil {
			return err
		}
	}
	if err := a.copy(kernel.Image, "domu/Image"); err != nil {
		return err
	}
	if err := a.copy(client, "bin/xenlab-client"); err != nil {
		return err
	}
	return a.close()
}
