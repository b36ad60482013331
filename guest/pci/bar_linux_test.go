package pci_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/guest/pci"
	"github.com/unikit/unikit/guest/pci/pcitest"
)

func TestBARMapsResourceFile(t *testing.T) {
	root := pcitest.NewSysfs(t)
	nic().Write(t, root)
	d, err := pci.Open(root, nicAddr)
	require.NoError(t, err)
	defer d.Close()

	w, err := d.BAR(4)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x4000), w.Size())
	w.Write32(0x3000, 0x04030201)
	w.Write16(0x3ffe, 0xbeef)
	assert.Equal(t, uint8(0x02), w.Read8(0x3001))
	again, err := d.BAR(4)
	require.NoError(t, err)
	assert.Same(t, w, again)

	// The mapping is the file: what the driver wrote is there.
	b, err := os.ReadFile(filepath.Join(pcitest.Dir(root, nicAddr), "resource4"))
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3, 4}, b[0x3000:0x3004])
	assert.Equal(t, []byte{0xef, 0xbe}, b[0x3ffe:])

	_, err = d.BAR(1)
	require.NoError(t, err)
	_, err = d.BAR(0)
	require.ErrorIs(t, err, pci.ErrBadDevice, "I/O BAR")
	_, err = d.BAR(2)
	require.ErrorIs(t, err, os.ErrNotExist, "no resource2 file")
	_, err = d.BAR(6)
	require.ErrorIs(t, err, pci.ErrBadDevice)
	_, err = d.BAR(-1)
	require.ErrorIs(t, err, pci.ErrBadDevice)

	require.NoError(t, d.Close())
	_, err = d.BAR(4)
	require.ErrorIs(t, err, os.ErrClosed)
}

func TestBARRefusesLyingResourceFile(t *testing.T) {
	for name, size := range map[string]int64{"shorter": 0x1000, "longer": 0x8000, "empty": 0} {
		t.Run(name, func(t *testing.T) {
			root := pcitest.NewSysfs(t)
			f := nic()
			f.ResourceFileSizes = map[int]int64{4: size}
			f.Write(t, root)
			d, err := pci.Open(root, nicAddr)
			require.NoError(t, err)
			defer d.Close()
			_, err = d.BAR(4)
			require.ErrorIs(t, err, pci.ErrBadDevice)
		})
	}
	t.Run("directory", func(t *testing.T) {
		root := pcitest.NewSysfs(t)
		f := nic()
		f.Write(t, root)
		path := filepath.Join(pcitest.Dir(root, nicAddr), "resource4")
		require.NoError(t, os.Remove(path))
		require.NoError(t, os.Mkdir(path, 0o755))
		d, err := pci.Open(root, nicAddr)
		require.NoError(t, err)
		defer d.Close()
		_, err = d.BAR(4)
		require.ErrorIs(t, err, pci.ErrBadDevice)
	})
}
