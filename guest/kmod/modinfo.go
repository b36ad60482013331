package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors of this package.
var (
	// ErrNotModule is returned for a file that is not an ELF kernel module with a .modinfo
	// section.
	ErrNotModule = errors.New("kmod: not a kernel module")
	// ErrNotFound is returned when a requested module, or one it depends on, is neither in the
	// directory nor built into the kernel.
	ErrNotFound = errors.New("kmod: module not found")
	// ErrCycle is returned when modules depend on each other in a cycle.
	ErrCycle = errors.New("kmod: dependency cycle")
)

// maxModinfo bounds the .modinfo section read from a file. The largest in Debian's 6.1 amd64
// tree is a few tens of KiB (drivers with thousands of PCI aliases); a larger one is not a
// module we want to parse.
const maxModinfo = 1 << 20

// Info is what a module says about itself in its .modinfo section.
type Info struct {
	// Name is the module's name ("name="), normalised with '_' for '-'; empty if the section
	// has none (kernels before 5.4 did not write it).
	Name string
	// Depends are the modules it needs loaded first ("depends="), normalised.
	Depends []string
	// Vermagic is the kernel version string the module was built for ("vermagic=").
	Vermagic string
}

// ReadInfo reads the .modinfo section of the ELF module in r. It fails with an error wrapping
// [ErrNotModule] for anything that is not an ELF file with such a section.
func ReadInfo(r io.ReaderAt) (Info, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrNotModule, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return Info{}, fmt.Errorf("%w: no .modinfo section", ErrNotModule)
	}
	if sec.Size > maxModinfo {
		return Info{}, fmt.Errorf("%w: .modinfo section of %d bytes", ErrNotModule, sec.Size)
	}
	b, err := io.ReadAll(io.LimitReader(sec.Open(), maxModinfo))
	if err != nil {
		return Info{}, fmt.Errorf("%w: reading .modinfo: %v", ErrNotModule, err)
	}
	return ParseModinfo(b), nil
}

// ParseModinfo parses the contents of a .modinfo section: key=value strings separated by NUL
// bytes (and, in some toolchains, NUL padding between them). Entries without '=' are ignored;
// for keys given twice the first wins, as modinfo(8) shows them first.
func ParseModinfo(b []byte) Info {
	var info Info
	var haveName, haveDepends, haveVermagic bool
	for entry := range bytes.SplitSeq(b, []byte{0}) {
		key, value, ok := bytes.Cut(entry, []byte{'='})
		if !ok {
			continue
		}
		switch string(key) {
		case "name":
			if !haveName {
				info.Name, haveName = Normalize(string(value)), true
			}
		case "depends":
			if !haveDepends {
				haveDepends = true
				for d := range strings.SplitSeq(string(value), ",") {
					if d = strings.TrimSpace(d); d != "" {
						info.Depends = append(info.Depends, Normalize(d))
					}
				}
			}
		case "vermagic":
			if !haveVermagic {
				info.Vermagic, haveVermagic = string(value), true
			}
		}
	}
	return info
}

// Normalize returns a module name as the kernel compares it: '-' becomes '_'.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }
