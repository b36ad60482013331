package pci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Function is a PCI function as sysfs lists it.
type Function struct {
	Addr            Addr
	Vendor, Device  uint16
	SubsystemVendor uint16
	SubsystemDevice uint16
	// Class is the 24-bit class code: base class, subclass, programming interface
	// (0x020000 is an Ethernet controller).
	Class uint32
	// Driver is the name of the driver bound to the function, empty if none.
	Driver string
}

// devicesDir is where sysfs lists PCI functions, relative to its root.
const devicesDir = "bus/pci/devices"

// functionDir returns the sysfs directory of function a.
func functionDir(sysRoot string, a Addr) string {
	return filepath.Join(sysRoot, devicesDir, a.String())
}

// Functions lists the PCI functions under sysRoot (normally "/sys"), in the order sysfs lists
// them. Entries whose name is not a function address are skipped; a function whose ID files
// are malformed is an error wrapping [ErrBadDevice].
func Functions(sysRoot string) ([]Function, error) {
	entries, err := os.ReadDir(filepath.Join(sysRoot, devicesDir))
	if err != nil {
		return nil, err
	}
	var fns []Function
	for _, e := range entries {
		a, err := ParseAddr(e.Name())
		if err != nil {
			continue
		}
		f, err := ReadFunction(sysRoot, a)
		if err != nil {
			return nil, err
		}
		fns = append(fns, f)
	}
	return fns, nil
}

// ReadFunction reads the IDs, class and driver of function a under sysRoot.
func ReadFunction(sysRoot string, a Addr) (Function, error) {
	dir := functionDir(sysRoot, a)
	f := Function{Addr: a}
	for _, field := range []struct {
		name string
		max  uint64
		v    any
	}{
		{"vendor", 0xffff, &f.Vendor},
		{"device", 0xffff, &f.Device},
		{"subsystem_vendor", 0xffff, &f.SubsystemVendor},
		{"subsystem_device", 0xffff, &f.SubsystemDevice},
		{"class", 0xffffff, &f.Class},
	} {
		n, err := readHexFile(filepath.Join(dir, field.name), field.max)
		if err != nil {
			return f, err
		}
		switch p := field.v.(type) {
		case *uint16:
			*p = uint16(n)
		case *uint32:
			*p = uint32(n)
		}
	}
	drv, err := driverOf(dir)
	if err != nil {
		return f, err
	}
	f.Driver = drv
	return f, nil
}

// readHexFile reads a sysfs attribute holding one 0x-prefixed hexadecimal number no larger
// than max ("0x1af4\n").
func readHexFile(path string, max uint64) (uint64, error) {
	b, err := readSmallFile(path, 64)
	if err != nil {
		return 0, err
	}
	s, ok := strings.CutPrefix(strings.TrimSuffix(string(b), "\n"), "0x")
	v, ok2 := parseHex(s)
	if !ok || !ok2 || v > max {
		return 0, fmt.Errorf("%w: %s holds %q", ErrBadDevice, path, b)
	}
	return v, nil
}

// readSmallFile reads at most limit bytes of a sysfs attribute; a longer one is an error.
func readSmallFile(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, limit+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %s is longer than %d bytes", ErrBadDevice, path, limit)
	}
	return b[:n], nil
}

// driverOf returns the name of the driver bound to the function in dir, or "".
func driverOf(dir string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, "driver"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Base(target), nil
}
