package virtiopci

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/guest/kmod"
	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/guest/pci/pcitest"
)

func TestIsNet(t *testing.T) {
	net := pci.Function{Vendor: 0x1af4, Device: 0x1041, Class: 0x020000}
	assert.True(t, IsNet(net))
	legacy := pci.Function{Vendor: 0x1af4, Device: 0x1000, SubsystemDevice: 1, Class: 0x020000}
	assert.True(t, IsNet(legacy))
	for name, f := range map[string]pci.Function{
		"block":              {Vendor: 0x1af4, Device: 0x1001, SubsystemDevice: 2, Class: 0x010000},
		"transitional block": {Vendor: 0x1af4, Device: 0x1000, SubsystemDevice: 2, Class: 0x020000},
		"modern console":     {Vendor: 0x1af4, Device: 0x1043, Class: 0x078000},
		"e1000":              {Vendor: 0x8086, Device: 0x100e, Class: 0x020000},
		"wrong class":        {Vendor: 0x1af4, Device: 0x1041, Class: 0x010000},
	} {
		assert.False(t, IsNet(f), name)
	}
}

func TestFindNet(t *testing.T) {
	root := pcitest.NewSysfs(t)
	pcitest.Function{Addr: pci.Addr{}, Vendor: 0x8086, Device: 0x1237, Class: 0x060000}.Write(t, root)
	qemuFunction(t, true).Write(t, root)
	second := qemuFunction(t, false)
	second.Addr = pci.Addr{Device: 4}
	second.Write(t, root)

	nets, err := FindNet(root)
	require.NoError(t, err)
	require.Len(t, nets, 2)
	assert.Equal(t, qemuAddr, nets[0].Addr)
	assert.Equal(t, pci.Addr{Device: 4}, nets[1].Addr)

	f, err := choose(root, "")
	require.NoError(t, err)
	assert.Equal(t, qemuAddr, f.Addr)
	f, err = choose(root, "0000:00:04.0")
	require.NoError(t, err)
	assert.Equal(t, uint16(DeviceModern), f.Device)
	_, err = choose(root, "0000:00:00.0")
	require.ErrorIs(t, err, ErrNoDevice, "the host bridge is not a NIC")
	_, err = choose(root, "00:03")
	require.Error(t, err)
	_, err = choose(pcitest.NewSysfs(t), "")
	require.ErrorIs(t, err, ErrNoDevice)
}

func TestOpenFailsCleanly(t *testing.T) {
	t.Run("no uio driver and no modules", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		qemuFunction(t, true).Write(t, root)
		_, err := Open(&Config{SysRoot: root, DevRoot: t.TempDir(), ModuleDir: t.TempDir()})
		require.ErrorIs(t, err, kmod.ErrNotFound)
	})
	t.Run("driver does not bind", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		qemuFunction(t, true).Write(t, root)
		pcitest.AddDriver(t, root, uioDriver)
		_, err := Open(&Config{SysRoot: root, DevRoot: t.TempDir()})
		require.ErrorIs(t, err, pci.ErrNoDriver)
	})
}
