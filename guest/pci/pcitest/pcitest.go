// Package pcitest writes fake sysfs trees of PCI functions, so that code using package pci
// can be tested without a device: the files sysfs has for a function (IDs, class, config,
// resource, resourceN, the driver link and the uio directory) as plain files in a temporary
// directory. Nothing behind them behaves like a device: a mapped BAR is the resource file's
// bytes, and writes to the config file stay as written.
package pcitest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/unikit/unikit/guest/pci"
)

// resourceLines is the number of lines Linux 6.1 writes to a PCI function's resource file on
// x86 (PCI_NUM_RESOURCES: BARs, ROM and bridge windows; SR-IOV adds more where configured).
const resourceLines = 13

// Function describes one fake PCI function.
type Function struct {
	Addr            pci.Addr
	Vendor, Device  uint16
	SubsystemVendor uint16
	SubsystemDevice uint16
	Class           uint32
	// Config is the configuration space; it is padded with zeros to 256 bytes.
	Config []byte
	// Resources are the resource lines, padded with empty ones to 13.
	Resources []pci.Resource
	// ResourceFileSizes overrides the size of resourceN files; by default every non-empty
	// resource i < 6 gets a resourceN file as long as the resource.
	ResourceFileSizes map[int]int64
	// Driver is the name of the driver bound to the function, or empty.
	Driver string
	// UIO names the function's uio device ("uio0"), or is empty for none. Only the sysfs
	// directory is created, not the device file: tests make their own (a FIFO, for example).
	UIO string
}

// NewSysfs returns the root of an empty fake sysfs in a temporary directory: the PCI devices
// and drivers directories and the drivers_probe file.
func NewSysfs(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bus/pci/devices", "bus/pci/drivers", "devices/pci0000:00"} {
		mustDo(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	mustDo(t, os.WriteFile(filepath.Join(root, "bus/pci/drivers_probe"), nil, 0o200))
	return root
}

// AddDriver registers a fake driver directory with its bind and unbind files.
func AddDriver(t testing.TB, sysRoot, name string) {
	t.Helper()
	dir := filepath.Join(sysRoot, "bus/pci/drivers", name)
	mustDo(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{"bind", "unbind", "new_id"} {
		mustDo(t, os.WriteFile(filepath.Join(dir, f), nil, 0o200))
	}
}

// Write creates f under sysRoot as sysfs would show it: the function's directory under
// devices/pci0000:00 and its link in bus/pci/devices. Writing a function again replaces it
// (fuzz targets reuse one tree).
func (f Function) Write(t testing.TB, sysRoot string) {
	t.Helper()
	dir := filepath.Join(sysRoot, "devices/pci0000:00", f.Addr.String())
	link := filepath.Join(sysRoot, "bus/pci/devices", f.Addr.String())
	mustDo(t, os.RemoveAll(dir))
	mustDo(t, os.RemoveAll(link))
	mustDo(t, os.MkdirAll(dir, 0o755))
	mustDo(t, os.Symlink(dir, link))
	write := func(name string, b []byte) { mustDo(t, os.WriteFile(filepath.Join(dir, name), b, 0o644)) }
	write("vendor", fmt.Appendf(nil, "0x%04x\n", f.Vendor))
	write("device", fmt.Appendf(nil, "0x%04x\n", f.Device))
	write("subsystem_vendor", fmt.Appendf(nil, "0x%04x\n", f.SubsystemVendor))
	write("subsystem_device", fmt.Appendf(nil, "0x%04x\n", f.SubsystemDevice))
	write("class", fmt.Appendf(nil, "0x%06x\n", f.Class))
	write("driver_override", []byte("(null)\n"))
	cfg := make([]byte, max(256, len(f.Config)))
	copy(cfg, f.Config)
	write("config", cfg)

	rs := append([]pci.Resource(nil), f.Resources...)
	for len(rs) < resourceLines {
		rs = append(rs, pci.Resource{})
	}
	write("resource", FormatResources(rs))
	for i := range pci.NumBARs {
		size, ok := f.ResourceFileSizes[i]
		if !ok {
			if rs[i].Size() == 0 {
				continue
			}
			size = int64(rs[i].Size())
		}
		path := filepath.Join(dir, "resource"+strconv.Itoa(i))
		mustDo(t, os.WriteFile(path, nil, 0o600))
		mustDo(t, os.Truncate(path, size))
	}
	if f.Driver != "" {
		if _, err := os.Stat(filepath.Join(sysRoot, "bus/pci/drivers", f.Driver)); err != nil {
			AddDriver(t, sysRoot, f.Driver)
		}
		mustDo(t, os.Symlink(filepath.Join(sysRoot, "bus/pci/drivers", f.Driver), filepath.Join(dir, "driver")))
	}
	if f.UIO != "" {
		mustDo(t, os.MkdirAll(filepath.Join(dir, "uio", f.UIO), 0o755))
	}
}

// FormatResources writes resource lines as the kernel does: "0x%016x 0x%016x 0x%016x\n".
func FormatResources(rs []pci.Resource) []byte {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "0x%016x 0x%016x 0x%016x\n", r.Start, r.End, r.Flags)
	}
	return b.Bytes()
}

// Dir returns the directory of function a in the fake tree.
func Dir(sysRoot string, a pci.Addr) string {
	return filepath.Join(sysRoot, "devices/pci0000:00", a.String())
}

func mustDo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
