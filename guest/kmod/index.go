package kmod

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Module is one loadable module found by [Scan].
type Module struct {
	// Name is the module's normalised name.
	Name string
	// Path is the module file.
	Path string
	// Depends are the normalised names of the modules it needs first.
	Depends []string
}

// Index is the modules of one directory tree, by name. It is immutable once built.
type Index struct {
	dir     string
	modules map[string]Module
	builtin map[string]bool
}

// Scan indexes every "*.ko" file under dir by the name in its .modinfo section (or, when the
// section has none, its file name), and every module listed in a "modules.builtin" file as
// built in. A file that is not a module, or two files with the same module name, is an error:
// the tree is an image's module set, and a broken one should fail where it is built and
// booted, not later when a driver is missing.
func Scan(dir string) (*Index, error) {
	ix := &Index{dir: dir, modules: map[string]Module{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".ko"):
			return ix.addModule(path)
		case d.Type().IsRegular() && d.Name() == "modules.builtin":
			return ix.addBuiltin(path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

func (ix *Index) addModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := ReadInfo(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := info.Name
	if name == "" {
		name = Normalize(strings.TrimSuffix(filepath.Base(path), ".ko"))
	}
	if !validName(name) {
		return fmt.Errorf("%w: %s: module name %q", ErrNotModule, path, name)
	}
	for _, d := range info.Depends {
		if !validName(d) {
			return fmt.Errorf("%w: %s: dependency name %q", ErrNotModule, path, d)
		}
	}
	if other, ok := ix.modules[name]; ok {
		return fmt.Errorf("kmod: module %s in both %s and %s", name, other.Path, path)
	}
	ix.modules[name] = Module{Name: name, Path: path, Depends: info.Depends}
	return nil
}

// addBuiltin reads a modules.builtin file: one "kernel/.../name.ko" path per line.
func (ix *Index) addBuiltin(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name := Normalize(strings.TrimSuffix(filepath.Base(line), ".ko")); validName(name) {
			ix.builtin[name] = true
		}
	}
	return sc.Err()
}

// validName reports whether name is a plausible module name: letters, digits and '_', at
// most 55 bytes (MODULE_NAME_LEN - 1 on 64-bit kernels).
func validName(name string) bool {
	if name == "" || len(name) > 55 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Modules returns the names of every module in the index.
func (ix *Index) Modules() []string {
	names := make([]string, 0, len(ix.modules))
	for n := range ix.modules {
		names = append(names, n)
	}
	return names
}

// Builtin reports whether the named module is listed as built into the kernel.
func (ix *Index) Builtin(name string) bool { return ix.builtin[Normalize(name)] }

// Lookup returns the named module, normalised, and whether the index has a file for it. It
// never fails: Scan read every module already.
func (ix *Index) Lookup(name string) (Module, bool, error) {
	m, ok := ix.modules[Normalize(name)]
	return m, ok, nil
}

// Order returns the modules to load, in order, so that the named ones can be ([Order] on the
// index); errors name the index's directory.
func (ix *Index) Order(names ...string) ([]Module, error) {
	order, err := Order(ix, names...)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, ix.dir)
	}
	return order, nil
}
