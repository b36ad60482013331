package kmod

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadInfo(t *testing.T) {
	b := moduleELF(t, "description=Generic UIO driver for PCI 2.3 devices", "license=GPL v2",
		"depends=uio", "retpoline=Y", "intree=Y", "name=uio_pci_generic",
		"vermagic=6.1.0-57-amd64 SMP preempt mod_unload modversions ")
	info, err := ReadInfo(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, Info{Name: "uio_pci_generic", Depends: []string{"uio"},
		Vermagic: "6.1.0-57-amd64 SMP preempt mod_unload modversions "}, info)
}

func TestReadInfoRefuses(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"not ELF":   []byte("#!/bin/sh\necho hello\n"),
		"truncated": moduleELF(t, "name=x")[:80],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadInfo(bytes.NewReader(b))
			require.ErrorIs(t, err, ErrNotModule)
		})
	}
	t.Run("no modinfo", func(t *testing.T) {
		b := moduleELF(t, "name=x")
		// Rename ".modinfo" in the section name table: the file stays valid ELF.
		i := bytes.Index(b, []byte(".modinfo"))
		copy(b[i:], ".nothing")
		_, err := ReadInfo(bytes.NewReader(b))
		require.ErrorIs(t, err, ErrNotModule)
	})
}

func TestParseModinfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Info
	}{
		{"empty", "", Info{}},
		{"no depends", "name=evdev\x00depends=\x00", Info{Name: "evdev"}},
		{"several, dashes normalised", "depends=virtio_ring,virtio,net-failover\x00name=virtio-net",
			Info{Name: "virtio_net", Depends: []string{"virtio_ring", "virtio", "net_failover"}}},
		{"padding and junk", "\x00\x00garbage\x00name=a\x00\x00\x00depends=,b,,c,\x00",
			Info{Name: "a", Depends: []string{"b", "c"}}},
		{"first wins", "name=a\x00name=b\x00depends=x\x00depends=y", Info{Name: "a", Depends: []string{"x"}}},
		{"value with equals", "vermagic=a=b", Info{Vermagic: "a=b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ParseModinfo([]byte(tc.in)))
		})
	}
}

// TestReadInfoDebian reads real modules from a Debian kernel package unpacked with
// dpkg-deb -x, when UNIKIT_KMOD_DIR names its lib/modules/VERSION directory.
func TestReadInfoDebian(t *testing.T) {
	dir := os.Getenv("UNIKIT_KMOD_DIR")
	if dir == "" {
		t.Skip("UNIKIT_KMOD_DIR not set (a Debian kernel's lib/modules/VERSION, unpacked with dpkg-deb -x)")
	}
	ix, err := Scan(dir)
	require.NoError(t, err)
	order, err := ix.Order("uio_pci_generic", "virtio_net", "button", "evdev")
	require.NoError(t, err)
	var names []string
	for _, m := range order {
		names = append(names, m.Name)
	}
	assert.Equal(t, []string{"uio", "uio_pci_generic", "virtio_ring", "virtio", "failover",
		"net_failover", "virtio_net", "button", "evdev"}, names)

	f, err := os.Open(filepath.Join(dir, "kernel/drivers/uio/uio_pci_generic.ko"))
	require.NoError(t, err)
	defer f.Close()
	info, err := ReadInfo(f)
	require.NoError(t, err)
	assert.Equal(t, "uio_pci_generic", info.Name)
	assert.Equal(t, []string{"uio"}, info.Depends)
	assert.Contains(t, info.Vermagic, filepath.Base(dir))
	assert.True(t, ix.Builtin("8250"), "the serial console driver is built in (modules.builtin)")
}

func FuzzReadInfo(f *testing.F) {
	f.Add(moduleELF(f, "name=uio_pci_generic", "depends=uio"))
	f.Add(moduleELF(f, "depends=virtio_ring,virtio,net_failover", "name=virtio_net", "vermagic=6.1.0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ReadInfo(bytes.NewReader(b))
		if err != nil {
			require.ErrorIs(t, err, ErrNotModule)
			return
		}
		for _, d := range info.Depends {
			require.NotEmpty(t, d)
			require.NotContains(t, d, ",")
		}
	})
}
