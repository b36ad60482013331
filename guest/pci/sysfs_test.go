package pci_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/guest/pci/pcitest"
	"github.com/unikit/unikit/internal/allocs"
)

var (
	nicAddr    = pci.Addr{Device: 3}
	bridgeAddr = pci.Addr{}
)

// nic returns a fake virtio-net function like QEMU's at 0000:00:03.0, with a memory BAR1 of
// 4 KiB and BAR4 of 16 KiB, and command 0x0103 as uio_pci_generic leaves it.
func nic() pcitest.Function {
	cfg := make([]byte, 256)
	binary.LittleEndian.PutUint16(cfg[0:], 0x1af4)
	binary.LittleEndian.PutUint16(cfg[2:], 0x1000)
	binary.LittleEndian.PutUint16(cfg[pci.ConfigCommand:], 0x0103)
	binary.LittleEndian.PutUint16(cfg[pci.ConfigStatus:], 0x0010)
	return pcitest.Function{
		Addr: nicAddr, Vendor: 0x1af4, Device: 0x1000, SubsystemVendor: 0x1af4, SubsystemDevice: 1,
		Class: 0x020000, Config: cfg,
		Resources: []pci.Resource{
			{Start: 0xc000, End: 0xc01f, Flags: 0x40101},
			{Start: 0xfebf1000, End: 0xfebf1fff, Flags: 0x40200},
			{}, {},
			{Start: 0xfe000000, End: 0xfe003fff, Flags: 0x14220c},
		},
	}
}

func TestFunctions(t *testing.T) {
	root := pcitest.NewSysfs(t)
	pcitest.Function{Addr: bridgeAddr, Vendor: 0x8086, Device: 0x1237, Class: 0x060000, Driver: "piix"}.Write(t, root)
	nic().Write(t, root)
	require.NoError(t, os.Symlink("/nowhere", filepath.Join(root, "bus/pci/devices/not-an-address")))

	fns, err := pci.Functions(root)
	require.NoError(t, err)
	assert.Equal(t, []pci.Function{
		{Addr: bridgeAddr, Vendor: 0x8086, Device: 0x1237, Class: 0x060000, Driver: "piix"},
		{Addr: nicAddr, Vendor: 0x1af4, Device: 0x1000, SubsystemVendor: 0x1af4, SubsystemDevice: 1, Class: 0x020000},
	}, fns)
}

func TestFunctionsRefuseMalformedIDs(t *testing.T) {
	for name, content := range map[string]string{
		"no prefix":  "1af4\n",
		"too large":  "0x11af4\n",
		"not hex":    "0xzzzz\n",
		"too long":   "0x" + string(make([]byte, 100)),
		"empty":      "",
		"two values": "0x1af4 0x1000\n",
	} {
		t.Run(name, func(t *testing.T) {
			root := pcitest.NewSysfs(t)
			nic().Write(t, root)
			require.NoError(t, os.WriteFile(filepath.Join(pcitest.Dir(root, nicAddr), "vendor"), []byte(content), 0o644))
			_, err := pci.Functions(root)
			require.Error(t, err)
		})
	}
}

func TestBind(t *testing.T) {
	t.Run("already bound", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		f := nic()
		f.Driver = "uio_pci_generic"
		f.Write(t, root)
		require.NoError(t, pci.Bind(root, nicAddr, "uio_pci_generic"))
	})
	t.Run("driver not loaded", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		nic().Write(t, root)
		require.ErrorIs(t, pci.Bind(root, nicAddr, "uio_pci_generic"), pci.ErrNoDriver)
	})
	t.Run("unbinds, overrides and probes", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		f := nic()
		f.Driver = "virtio-pci"
		f.Write(t, root)
		pcitest.AddDriver(t, root, "uio_pci_generic")
		// Nothing in a fake tree binds the driver, so Bind reports that it did not take.
		err := pci.Bind(root, nicAddr, "uio_pci_generic")
		require.ErrorIs(t, err, pci.ErrNoDriver)
		assert.Contains(t, err.Error(), `bound to "virtio-pci"`)
		dir := pcitest.Dir(root, nicAddr)
		for path, want := range map[string]string{
			filepath.Join(root, "bus/pci/drivers/virtio-pci/unbind"): "0000:00:03.0",
			filepath.Join(dir, "driver_override"):                    "uio_pci_generic",
			filepath.Join(root, "bus/pci/drivers_probe"):             "0000:00:03.0",
		} {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, want, string(b), path)
		}
	})
	t.Run("bad driver names", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		nic().Write(t, root)
		for _, d := range []string{"", "..", "a/b", "x\n"} {
			require.Error(t, pci.Bind(root, nicAddr, d), "%q", d)
		}
	})
}

func TestOpenConfig(t *testing.T) {
	root := pcitest.NewSysfs(t)
	nic().Write(t, root)
	d, err := pci.Open(root, nicAddr)
	require.NoError(t, err)
	defer d.Close()
	cfg := d.Config()
	assert.Equal(t, uint32(256), cfg.Size())
	assert.Equal(t, uint16(0x1af4), cfg.Read16(0))
	assert.Equal(t, uint32(0x10001af4), cfg.Read32(0))
	assert.Equal(t, uint8(0xf4), cfg.Read8(0))
	assert.Equal(t, uint8(0xff), cfg.Read8(256), "outside reads all ones")
	assert.Equal(t, uint32(0xffffffff), cfg.Read32(254))

	require.NoError(t, cfg.EnableBusMaster())
	cmd, err := cfg.Command()
	require.NoError(t, err)
	assert.Equal(t, uint16(0x0107), cmd)

	require.NoError(t, cfg.SetINTxMasked(true))
	cmd, _ = cfg.Command()
	assert.Equal(t, uint16(0x0507), cmd)
	require.NoError(t, cfg.SetINTxMasked(false))
	cmd, _ = cfg.Command()
	assert.Equal(t, uint16(0x0107), cmd)

	cfg.Write32(0x40, 0xdeadbeef)
	cfg.Write16(0x44, 0xcafe)
	cfg.Write8(0x46, 0x42)
	cfg.Write32(0x100, 1) // outside: dropped
	b, err := os.ReadFile(filepath.Join(pcitest.Dir(root, nicAddr), "config"))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xef, 0xbe, 0xad, 0xde, 0xfe, 0xca, 0x42}, b[0x40:0x47])
	assert.Len(t, b, 256)

	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "idempotent")
	assert.Equal(t, uint16(0xffff), cfg.Read16(0), "closed")
}

func TestOpenRefuses(t *testing.T) {
	t.Run("short config", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		nic().Write(t, root)
		require.NoError(t, os.Truncate(filepath.Join(pcitest.Dir(root, nicAddr), "config"), 64))
		_, err := pci.Open(root, nicAddr)
		require.ErrorIs(t, err, pci.ErrBadDevice)
	})
	t.Run("bad resource file", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		nic().Write(t, root)
		require.NoError(t, os.WriteFile(filepath.Join(pcitest.Dir(root, nicAddr), "resource"), []byte("0x0 0x0\n"), 0o644))
		_, err := pci.Open(root, nicAddr)
		require.ErrorIs(t, err, pci.ErrBadDevice)
	})
	t.Run("no such function", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		_, err := pci.Open(root, nicAddr)
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestSetINTxMaskedDoesNotAllocate(t *testing.T) {
	root := pcitest.NewSysfs(t)
	nic().Write(t, root)
	d, err := pci.Open(root, nicAddr)
	require.NoError(t, err)
	defer d.Close()
	cfg := d.Config()
	masked := false
	r := allocs.Measure(100, 0, func() {
		masked = !masked
		_ = cfg.SetINTxMasked(masked)
	})
	assert.Zero(t, r.Mallocs, "unmasking INTx runs once per interrupt: %v", r)
}

func TestWriteCommand(t *testing.T) {
	root := pcitest.NewSysfs(t)
	nic().Write(t, root)
	d, err := pci.Open(root, nicAddr)
	require.NoError(t, err)
	defer d.Close()
	cfg := d.Config()
	require.NoError(t, cfg.SetINTxMasked(true))
	require.NoError(t, cfg.WriteCommand(0x0107))
	cmd, err := cfg.Command()
	require.NoError(t, err)
	assert.Equal(t, uint16(0x0107), cmd, "the whole register is written")
	b, err := os.ReadFile(filepath.Join(pcitest.Dir(root, nicAddr), "config"))
	require.NoError(t, err)
	assert.Equal(t, []byte{0x07, 0x01}, b[pci.ConfigCommand:pci.ConfigCommand+2])

	r := allocs.Measure(100, 0, func() { _ = cfg.WriteCommand(0x0507) })
	assert.Zero(t, r.Mallocs, "unmasking INTx runs once per interrupt: %v", r)

	require.NoError(t, d.Close())
	require.ErrorIs(t, cfg.WriteCommand(0x0107), os.ErrClosed)
}
