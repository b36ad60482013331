package virtiopci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/guest/pci/pcitest"
	"github.com/unikit/unikit/virtio"
)

// checkedRegisters passes accesses to a mapped BAR through, and records any that is outside
// the BAR or not naturally aligned: the capability walk and the transport must never make one,
// whatever the device says.
type checkedRegisters struct {
	r    virtio.Registers
	bar  int
	size uint64
	bad  *[]string
}

func (c checkedRegisters) check(off uint32, n uint64, op string) {
	if uint64(off)%n != 0 || uint64(off)+n > c.size {
		*c.bad = append(*c.bad, fmt.Sprintf("%s of %d bytes at %#x of BAR %d (%#x bytes)", op, n, off, c.bar, c.size))
	}
}

func (c checkedRegisters) Read8(off uint32) uint8   { c.check(off, 1, "read"); return c.r.Read8(off) }
func (c checkedRegisters) Read16(off uint32) uint16 { c.check(off, 2, "read"); return c.r.Read16(off) }
func (c checkedRegisters) Read32(off uint32) uint32 { c.check(off, 4, "read"); return c.r.Read32(off) }
func (c checkedRegisters) Write8(off uint32, v uint8) {
	c.check(off, 1, "write")
	c.r.Write8(off, v)
}
func (c checkedRegisters) Write16(off uint32, v uint16) {
	c.check(off, 2, "write")
	c.r.Write16(off, v)
}
func (c checkedRegisters) Write32(off uint32, v uint32) {
	c.check(off, 4, "write")
	c.r.Write32(off, v)
}

// fuzzResources turns fuzz bytes into resource lines and resourceN file sizes: three bytes
// per BAR choose its type, its size (16 bytes to 128 KiB) and how its file size relates.
func fuzzResources(b []byte) ([]pci.Resource, map[int]int64) {
	flagChoices := []uint64{0, pci.ResourceMem, pci.ResourceIO | 0x101,
		pci.ResourceMem | pci.ResourceMem64 | pci.ResourcePrefetch | 0xc, pci.ResourceMem | pci.ResourceUnset}
	rs := make([]pci.Resource, pci.NumBARs)
	sizes := map[int]int64{}
	for i := range pci.NumBARs {
		if 3*i+2 >= len(b) {
			break
		}
		flags := flagChoices[int(b[3*i])%len(flagChoices)]
		if flags == 0 {
			continue
		}
		size := uint64(1) << (b[3*i+1] % 18)
		start := 0xfe000000 + uint64(i)<<20
		rs[i] = pci.Resource{Start: start, End: start + size - 1, Flags: flags}
		switch b[3*i+2] % 4 {
		case 0:
			sizes[i] = int64(size)
		case 1:
			sizes[i] = int64(size / 2)
		case 2:
			sizes[i] = int64(size * 2)
		case 3:
			sizes[i] = 0
		}
	}
	return rs, sizes
}

// FuzzSysfsLayout runs the sysfs side of taking a virtio-net function against a device and a
// kernel that report anything: a configuration space (the capability list), a resource table
// (BAR types and sizes), resourceN files of any length, or a malformed resource file. Opening
// either fails with a typed error or yields a transport whose every register access, through
// every operation the driver uses, is inside a mapped BAR and aligned.
//
// The seed corpus in testdata holds QEMU's two layouts and the lies TestTransportRefusesLies
// checks one by one.
func FuzzSysfsLayout(f *testing.F) {
	root := pcitest.NewSysfs(f) // one tree per fuzz process, rewritten by each input
	f.Fuzz(func(t *testing.T, config, bars []byte, resource string) {
		fn := qemuFunction(t, true)
		fn.Config = make([]byte, 256)
		copy(fn.Config, config)
		fn.Resources, fn.ResourceFileSizes = fuzzResources(bars)
		fn.Write(t, root)
		if resource != "" {
			path := filepath.Join(pcitest.Dir(root, qemuAddr), "resource")
			if err := os.WriteFile(path, []byte(resource), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		dev, err := pci.Open(root, qemuAddr)
		if err != nil {
			if !errors.Is(err, pci.ErrBadDevice) {
				t.Fatalf("Open: untyped error %v", err)
			}
			return
		}
		defer dev.Close()
		var bad []string
		tr, err := transport(dev, func(bar int, r virtio.Registers, size uint64) virtio.Registers {
			return checkedRegisters{r: r, bar: bar, size: size, bad: &bad}
		})
		if err != nil {
			if !errors.Is(err, virtio.ErrDeviceBroken) && !errors.Is(err, virtio.ErrUnsupported) &&
				!errors.Is(err, pci.ErrBadDevice) && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("transport: untyped error %v", err)
			}
			return
		}
		tr.SetStatus(0)
		_ = tr.Status()
		_ = tr.DeviceFeatures()
		tr.SetDriverFeatures(virtio.FeatureVersion1)
		_ = tr.ConfigGeneration()
		var cfg [12]byte
		tr.ReadConfig(0, cfg[:6])
		tr.ReadConfig(10, cfg[10:12])
		tr.ReadConfig(0xffff_fff0, cfg[:4])
		for i := range min(tr.NumQueues(), 4) {
			if tr.QueueMax(i) > 0 {
				if tr.EnableQueue(i, 2, 0x1000, 0x2000, 0x3000) == nil {
					tr.Notify(i, uint32(i))
				}
			}
		}
		tr.Notify(1<<20, 0)
		_ = tr.AckInterrupt()
		if len(bad) > 0 {
			t.Fatalf("register accesses outside the BARs: %v", bad)
		}
	})
}
