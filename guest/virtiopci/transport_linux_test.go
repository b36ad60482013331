package virtiopci

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/guest/dma"
	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/guest/pci/pcitest"
	"github.com/unikit/unikit/virtio"
)

// TestTransportOverSysfs drives virtio.NewPCI over QEMU's configuration space and a BAR4 file
// in a fake sysfs: the capability walk finds the four structures in the mapped BAR, and the
// transport's register accesses land where QEMU puts them.
func TestTransportOverSysfs(t *testing.T) {
	for _, transitional := range []bool{true, false} {
		root := pcitest.NewSysfs(t)
		qemuFunction(t, transitional).Write(t, root)
		writeBAR4(t, root, 0)
		dev, err := pci.Open(root, qemuAddr)
		require.NoError(t, err)
		tr, err := transport(dev, nil)
		require.NoError(t, err)
		assert.Equal(t, uint32(virtio.DeviceNet), tr.DeviceID())
		assert.Equal(t, 3, tr.NumQueues())
		assert.Equal(t, uint64(0x30bf8024_30bf8024), tr.DeviceFeatures())
		mac := make([]byte, 6)
		tr.ReadConfig(0, mac)
		assert.Equal(t, []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}, mac)
		require.NoError(t, tr.EnableQueue(1, 256, 0x1000, 0x2000, 0x3000))
		tr.Notify(1, 0xabcd)
		require.NoError(t, dev.Close())

		bar, err := os.ReadFile(filepath.Join(pcitest.Dir(root, qemuAddr), "resource4"))
		require.NoError(t, err)
		assert.Equal(t, uint64(0x1000), binary.LittleEndian.Uint64(bar[0x20:]), "queue_desc")
		assert.Equal(t, uint64(0x3000), binary.LittleEndian.Uint64(bar[0x30:]), "queue_device")
		assert.Equal(t, uint16(1), binary.LittleEndian.Uint16(bar[0x1c:]), "queue_enable")
		assert.Equal(t, uint16(0xabcd), binary.LittleEndian.Uint16(bar[0x3000:]), "doorbell at notify_off 0")
	}
}

// TestOpenFailsAfterMapping checks that Open, failing once the BARs are mapped, leaves the
// device reset and INTx masked.
func TestOpenFailsAfterMapping(t *testing.T) {
	t.Run("no uio device", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		f := qemuFunction(t, true)
		f.Driver = uioDriver
		f.Write(t, root)
		// A firmware left the device running (DRIVER_OK and the rest).
		writeBAR4(t, root, 0x0f)
		_, err := Open(&Config{SysRoot: root, DevRoot: t.TempDir()})
		require.ErrorContains(t, err, "no uio device")
		// The function was reset before giving up: status 0 in the common configuration.
		bar, err := os.ReadFile(filepath.Join(pcitest.Dir(root, qemuAddr), "resource4"))
		require.NoError(t, err)
		assert.Zero(t, bar[0x14])
	})
	t.Run("no huge pages", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		f := qemuFunction(t, true)
		f.Driver = uioDriver
		f.Write(t, root)
		writeBAR4(t, root, 0)
		_, err := Open(&Config{SysRoot: root, DevRoot: t.TempDir(), Poll: 1,
			Memory: &dma.Config{Dir: t.TempDir()}})
		require.ErrorContains(t, err, "not hugetlbfs")
		// Bus mastering was enabled and INTx masked for polling; closing masks INTx too.
		cfg, err := os.ReadFile(filepath.Join(pcitest.Dir(root, qemuAddr), "config"))
		require.NoError(t, err)
		assert.Equal(t, uint16(0x0507), binary.LittleEndian.Uint16(cfg[4:]))
	})
}

// TestTransportRefusesLies opens QEMU's function with one thing about it changed to a lie,
// and checks that the lie is refused where it should be.
func TestTransportRefusesLies(t *testing.T) {
	for _, tc := range []struct {
		name string
		lie  func(f *pcitest.Function)
		want error
	}{
		// The MSI-X capability points at itself: the walk gives up before any structure.
		{"capability loop", func(f *pcitest.Function) { f.Config[0x99] = 0x98 }, virtio.ErrUnsupported},
		{"common structure in the I/O BAR", func(f *pcitest.Function) { f.Config[0x44] = 0 }, pci.ErrBadDevice},
		{"structure in a missing BAR", func(f *pcitest.Function) { f.Config[0x54] = 2 }, os.ErrNotExist},
		{"BAR file shorter than the BAR", func(f *pcitest.Function) { f.ResourceFileSizes = map[int]int64{4: 0x2000} },
			pci.ErrBadDevice},
		{"BAR not a power of two", func(f *pcitest.Function) { f.Resources[4].End = 0xfe002fff }, pci.ErrBadDevice},
		// The list skips the real notify capability for a copy at 0xf0, whose multiplier
		// would lie past the configuration space.
		{"notify capability past 0xff", func(f *pcitest.Function) {
			copy(f.Config[0xf0:], f.Config[0x70:0x80])
			f.Config[0x85], f.Config[0xf1] = 0xf0, 0x60
		}, virtio.ErrDeviceBroken},
		{"device structure past the BAR", func(f *pcitest.Function) { f.Config[0x6d] = 0x40 }, virtio.ErrDeviceBroken},
		{"no capability list", func(f *pcitest.Function) { f.Config[0x06] = 0 }, virtio.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := pcitest.NewSysfs(t)
			f := qemuFunction(t, true)
			tc.lie(&f)
			f.Write(t, root)
			dev, err := pci.Open(root, qemuAddr)
			require.NoError(t, err)
			defer dev.Close()
			_, err = transport(dev, nil)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
