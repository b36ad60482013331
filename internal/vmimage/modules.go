package vmimage

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/unikit/unikit/guest/kmod"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrModuleNotFound is returned when a module, or one it depends on, is neither a file in the
// module tree nor listed in its modules.builtin.
var ErrModuleNotFound = errors.New("vmimage: kernel module not found")

// ErrModuleCycle is returned when modules depend on each other in a cycle, which no load order
// satisfies.
var ErrModuleCycle = errors.New("vmimage: kernel module dependency cycle")

// ApplianceModules returns the modules every appliance loads at boot: uio and uio_pci_generic,
// through which it takes its NIC away from the kernel, and button and evdev, through which the
// hypervisor's ACPI power button reaches it as KEY_POWER; on arm64 also gpio_keys, through
// which QEMU's "virt" machine, booted without ACPI, presents its power button. They are the
// modules the guest runtime (guest.DefaultModules) and its virtio-net driver load.
func ApplianceModules(arch Arch) []string {
	mods := []string{"uio", "uio_pci_generic", "button", "evdev"}
	if arch == ARM64 {
		mods = append(mods, "gpio_keys")
	}
	return mods
}

// KernelNetModules returns Linux's own virtio-net driver, virtio_pci and virtio_net, which an
// appliance needs only to compare our driver with the kernel's (-net kernel).
func KernelNetModules() []string {
	return []string{"virtio_pci", "virtio_net"}
}

// Module is a kernel module chosen for an initramfs.
type Module struct {
	// Name is the module's name with '_' for '-', as the kernel compares names.
	Name string
	// Path is the module's file in the module tree, possibly compressed.
	Path string
	// Depends lists the modules Name needs loaded first, from its .modinfo.
	Depends []string
}

// ResolveModules finds the named modules and every module they depend on in the module tree at
// dir (a lib/modules/VERSION directory, or any directory holding .ko files below it) and returns
// them in an order in which each can be loaded: every module after those it depends on.
//
// Dependencies come from the depends= entry of each module's .modinfo section, so the tree
// needs no modules.dep (Debian's kernel package ships none; depmod writes it at install time).
// A name listed in dir/modules.builtin is built into the kernel and needs no file: it is
// left out of the result. Names may use '-' or '_'.
func ResolveModules(dir string, names []string) ([]Module, error) {
	tree, err := indexModuleTree(dir)
	if err != nil {
		return nil, err
	}
	r := resolver{tree: tree, state: make(map[string]visitState)}
	for _, n := range names {
		if err := r.visit(kmod.Normalize(n), nil); err != nil {
			return nil, err
		}
	}
	return r.order, nil
}

// moduleTree is an index of the modules below a directory.
type moduleTree struct {
	dir string
	// files maps canonical module names to their files.
	files map[string]string
	// builtin holds the canonical names of modules built into the kernel.
	builtin map[string]bool
}

// indexModuleTree walks dir for module files and reads dir/modules.builtin if it is there.
// The walk is in lexical order, so when two files hold the same module the first one wins,
// the same one every time.
func indexModuleTree(dir string) (*moduleTree, error) {
	t := &moduleTree{dir: dir, files: make(map[string]string), builtin: make(map[string]bool)}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if name := moduleFileName(d.Name()); name != "" {
			name = kmod.Normalize(name)
			if _, dup := t.files[name]; !dup {
				t.files[name] = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vmimage: reading module tree: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, "modules.builtin"))
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Each line is a path such as kernel/drivers/tty/serial/8250/8250.ko.
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name := moduleFileName(path.Base(strings.TrimSpace(sc.Text()))); name != "" {
			t.builtin[kmod.Normalize(name)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vmimage: reading modules.builtin: %w", err)
	}
	return t, nil
}

// visitState marks a module's progress through the depth-first walk.
type visitState uint8

const (
	unvisited visitState = iota
	visiting             // on the current path: meeting it again closes a cycle
	visited              // in the order already, or built in
)

// resolver orders modules depth first, dependencies before dependents.
type resolver struct {
	tree  *moduleTree
	state map[string]visitState
	order []Module
}

// visit appends name to the order after everything it depends on. from is the chain of
// modules that led to name, for error messages.
func (r *resolver) visit(name string, from []string) error {
	switch r.state[name] {
	case visited:
		return nil
	case visiting:
		return fmt.Errorf("%w: %s", ErrModuleCycle, strings.Join(append(from, name), " -> "))
	}
	p, ok := r.tree.files[name]
	if !ok {
		if r.tree.builtin[name] {
			r.state[name] = visited
			return nil
		}
		if len(from) > 0 {
			return fmt.Errorf("%w: %s (needed through %s) in %s", ErrModuleNotFound, name, strings.Join(from, " -> "), r.tree.dir)
		}
		return fmt.Errorf("%w: %s in %s", ErrModuleNotFound, name, r.tree.dir)
	}
	r.state[name] = visiting
	obj, err := readModuleFile(p)
	if err != nil {
		return err
	}
	mi, err := parseModinfo(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, dep := range mi.depends {
		if err := r.visit(dep, append(from, name)); err != nil {
			return err
		}
	}
	r.state[name] = visited
	r.order = append(r.order, Module{Name: name, Path: p, Depends: mi.depends})
	return nil
}
