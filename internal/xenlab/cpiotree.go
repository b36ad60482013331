package xenlab

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// archive writes an uncompressed newc cpio archive, the kernel's initramfs format, from files
// of the host and bytes of its own: every record reproducible (no times, owners root) with an
// inode of its own, so that hard links on the host become plain copies.
type archive struct {
	w    cpio.RecordWriter
	ino  uint64
	dirs map[string]bool
}

func newArchive(w io.Writer) *archive {
	return &archive{w: cpio.Newc.Writer(w), dirs: map[string]bool{}}
}

func (a *archive) write(r cpio.Record) error {
	a.ino++
	r.Ino = a.ino
	r.NLink = 1
	if r.Mode&cpio.S_IFMT == cpio.S_IFDIR {
		r.NLink = 2
	}
	return a.w.WriteRecord(cpio.MakeReproducible(r))
}

// dir adds the directory name and its missing parents.
func (a *archive) dir(name string) error {
	name = strings.Trim(path.Clean(name), "/")
	if name == "." || name == "" || a.dirs[name] {
		return nil
	}
	if err := a.dir(path.Dir(name)); err != nil {
		return err
	}
	a.dirs[name] = true
	return a.write(cpio.Directory(name, 0o755))
}

// file adds a regular file with the given contents and permissions.
func (a *archive) file(name string, data []byte, perm uint64) error {
	if err := a.dir(path.Dir(name)); err != nil {
		return err
	}
	return a.write(cpio.StaticRecord(data, cpio.Info{Name: strings.TrimPrefix(name, "/"), Mode: cpio.S_IFREG | perm}))
}

// symlink adds a symbolic link.
func (a *archive) symlink(name, target string) error {
	if err := a.dir(path.Dir(name)); err != nil {
		return err
	}
	return a.write(cpio.Symlink(strings.TrimPrefix(name, "/"), target))
}

// copy adds the host file or tree src as name: directories, regular files with their
// permissions, and symbolic links as links.
func (a *archive) copy(src, name string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := path.Join(name, filepath.ToSlash(rel))
		switch t := d.Type(); {
		case t.IsDir():
			return a.dir(dst)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return a.symlink(dst, target)
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return a.file(dst, data, uint64(info.Mode().Perm()))
		}
		return fmt.Errorf("xenlab: %s: cannot archive a %v", p, d.Type())
	})
}

// close writes the trailer.
func (a *archive) close() error { return cpio.WriteTrailer(a.w) }
