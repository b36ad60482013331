package vmimage

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/unikit/unikit/guest/kernelnet"
	"github.com/unikit/unikit/guest/kmod"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrModuleNotFound is returned when a module, or one it depends on, is neither a file in the
// module tree nor listed in its modules.builtin. It is kmod's error: the image builder and the
// guest resolve modules with the same code.
var ErrModuleNotFound = kmod.ErrNotFound

// ErrModuleCycle is returned when modules depend on each other in a cycle, which no load order
// satisfies.
var ErrModuleCycle = kmod.ErrCycle

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
// appliance loads only with -net kernel, to compare our driver with the kernel's: the modules
// guest/kernelnet loads.
func KernelNetModules() []string { return kernelnet.DefaultModules() }

// WantsKernelNet reports whether the appliance flags ask for -net kernel (-net kernel,
// -net=kernel, or with two dashes), the case in which Build adds KernelNetModules to the
// initramfs. Flags end at "--".
func WantsKernelNet(args []string) bool {
	for i, a := range args {
		switch a {
		case "--":
			return false
		case "-net=kernel", "--net=kernel":
			return true
		case "-net", "--net":
			if i+1 < len(args) && args[i+1] == "kernel" {
				return true
			}
		}
	}
	return false
}

// Module is a kernel module chosen for an initramfs: its normalised name, its file in the
// module tree (possibly compressed) and the modules it needs loaded first.
type Module = kmod.Module

// ResolveModules finds the named modules and every module they depend on in the module tree at
// dir (a lib/modules/VERSION directory, or any directory holding .ko files below it) and returns
// them in an order in which each can be loaded: every module after those it depends on.
//
// Dependencies come from the depends= entry of each module's .modinfo section, so the tree
// needs no modules.dep (Debian's kernel package ships none; depmod writes it at install time).
// A name listed in dir/modules.builtin is built into the kernel and needs no file: it is
// left out of the result. Names may use '-' or '_'. The order is kmod.Order's, the one the
// guest runtime loads by; only the modules visited are read (and decompressed).
func ResolveModules(dir string, names []string) ([]Module, error) {
	tree, err := indexModuleTree(dir)
	if err != nil {
		return nil, err
	}
	mods, err := kmod.Order(tree, names...)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	return mods, nil
}

// moduleTree is an index of the modules below a directory: a kmod.Source that reads a
// module's .modinfo only when it is looked up.
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
	f, err := os.Open(filepath.Join(dir, BuiltinFile))
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
		return nil, fmt.Errorf("vmimage: reading %s: %w", BuiltinFile, err)
	}
	return t, nil
}

// Lookup implements kmod.Source: it reads the module's file, decompressing it, for its
// .modinfo.
func (t *moduleTree) Lookup(name string) (Module, bool, error) {
	p, ok := t.files[name]
	if !ok {
		return Module{}, false, nil
	}
	obj, err := readModuleFile(p)
	if err != nil {
		return Module{}, false, err
	}
	mi, err := parseModinfo(obj)
	if err != nil {
		return Module{}, false, fmt.Errorf("%s: %w", p, err)
	}
	return Module{Name: name, Path: p, Depends: mi.depends}, true, nil
}

// Builtin implements kmod.Source.
func (t *moduleTree) Builtin(name string) bool { return t.builtin[name] }

// BuiltinFile is the kernel's list of the modules built into it, one path a line, in a module
// tree and, copied, in the initramfs's ModulesDir, where the guest runtime reads it.
const BuiltinFile = "modules.builtin"
