package vmimage

import (
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/unikit/unikit/guest/kmod"
)

// ModulesDir is the initramfs directory that holds the appliance's kernel modules, each
// uncompressed as NAME.ko. It lies below kmod.DefaultDir, which the guest runtime scans at
// boot: it works out the load order from each module's .modinfo itself, so the image holds
// no order file.
const ModulesDir = kmod.DefaultDir + "/unikit"

// WriteInitramfs writes to w a gzip'd newc cpio archive (the format the kernel unpacks into
// its root file system, Documentation/driver-api/early-userspace/buffer-format.rst) holding
// the appliance executable as /init, the given modules uncompressed under ModulesDir with the
// kernel's modules.builtin beside them (builtin, if not nil: BuiltinFile, from which the guest
// runtime knows which modules the kernel has built in), the mount points of the guest runtime
// (/dev, /proc, /sys, /tmp, /run), and /dev/console.
//
// The archive is reproducible: the same appliance and modules give the same bytes (every
// mtime, uid and gid is zero and the gzip header has no time).
func WriteInitramfs(w io.Writer, appliance []byte, modules []Module, builtin []byte) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	cw := cpio.Newc.Writer(zw)
	var ino uint64
	write := func(r cpio.Record) error {
		ino++
		r.Ino = ino
		r.NLink = 1
		if r.Mode&cpio.S_IFMT == cpio.S_IFDIR {
			r.NLink = 2
		}
		return cw.WriteRecord(cpio.MakeReproducible(r))
	}

	// The mount points of the guest runtime's file systems.
	for _, d := range []struct {
		name string
		perm uint64
	}{
		{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"tmp", 0o1777}, {"run", 0o755},
	} {
		if err := write(cpio.Directory(d.name, d.perm)); err != nil {
			return err
		}
	}
	// The kernel opens /dev/console for init's standard streams before running it. Debian's
	// kernels have it from their built-in initramfs, other kernels may not.
	if err := write(cpio.CharDev("dev/console", 0o600, 5, 1)); err != nil {
		return err
	}
	if err := write(cpio.StaticRecord(appliance, cpio.Info{Name: "init", Mode: cpio.S_IFREG | 0o755})); err != nil {
		return err
	}

	modDir := strings.TrimPrefix(ModulesDir, "/")
	parts := strings.Split(modDir, "/")
	for i := range parts {
		if err := write(cpio.Directory(strings.Join(parts[:i+1], "/"), 0o755)); err != nil {
			return err
		}
	}
	for _, m := range modules {
		obj, err := readModuleFile(m.Path)
		if err != nil {
			return err
		}
		file := m.Name + ".ko"
		rec := cpio.StaticRecord(obj, cpio.Info{Name: path.Join(modDir, file), Mode: cpio.S_IFREG | 0o644})
		if err := write(rec); err != nil {
			return err
		}
	}
	if builtin != nil {
		rec := cpio.StaticRecord(builtin, cpio.Info{Name: path.Join(modDir, BuiltinFile), Mode: cpio.S_IFREG | 0o644})
		if err := write(rec); err != nil {
			return err
		}
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return err
	}
	return zw.Close()
}
