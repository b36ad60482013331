package vmimage

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
)

// syntheticTree writes a module tree whose modules depend on each other as a real kernel's
// do, some compressed, some named with '-', one dependency built in.
func syntheticTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for path, depends := range map[string]string{
		"kernel/drivers/uio/uio.ko":                      "",
		"kernel/drivers/uio/uio_pci_generic.ko":          "uio",
		"kernel/drivers/net/virtio_net.ko.xz":            "virtio_ring,virtio,net_failover",
		"kernel/drivers/net/net_failover.ko.zst":         "failover",
		"kernel/net/core/failover.ko.gz":                 "",
		"kernel/drivers/virtio/virtio_ring.ko":           "virtio",
		"kernel/drivers/virtio/virtio.ko":                "",
		"kernel/drivers/virtio/virtio_pci.ko":            "virtio_ring,virtio-pci-modern-dev,virtio",
		"kernel/drivers/virtio/virtio_pci_modern_dev.ko": "",
		"kernel/drivers/vfio/pci/vfio-pci.ko":            "vfio-pci-core,vfio",
		"kernel/drivers/vfio/pci/vfio-pci-core.ko":       "vfio,irqbypass",
		"kernel/drivers/vfio/vfio.ko":                    "",
		"kernel/virt/lib/irqbypass.ko":                   "",
		"kernel/drivers/input/evdev.ko":                  "",
		"kernel/drivers/misc/needs_builtin.ko":           "button",
		"kernel/drivers/misc/loop_a.ko":                  "loop_b",
		"kernel/drivers/misc/loop_b.ko":                  "loop_a",
		"kernel/drivers/misc/orphan.ko":                  "gone",
		"kernel/drivers/misc/not_a_module.txt":           "",
	} {
		writeModule(t, filepath.Join(dir, path), depends)
	}
	builtin := "kernel/drivers/acpi/button.ko\nkernel/drivers/tty/serial/8250/8250.ko\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(builtin), 0o644))
	return dir
}

// names returns the module names of mods in order.
func names(mods []Module) []string {
	var n []string
	for _, m := range mods {
		n = append(n, m.Name)
	}
	return n
}

// requireLoadOrder checks that every module comes after each module it depends on, and that
// no module appears twice.
func requireLoadOrder(t *testing.T, mods []Module) {
	t.Helper()
	pos := make(map[string]int)
	for i, m := range mods {
		_, dup := pos[m.Name]
		require.False(t, dup, "%s appears twice in %v", m.Name, names(mods))
		pos[m.Name] = i
	}
	for i, m := range mods {
		for _, d := range m.Depends {
			if j, ok := pos[d]; ok {
				require.Less(t, j, i, "%s must load before %s: %v", d, m.Name, names(mods))
			}
		}
	}
}

func TestResolveModulesOrdersDependenciesFirst(t *testing.T) {
	dir := syntheticTree(t)
	mods, err := ResolveModules(dir, []string{"uio_pci_generic", "virtio-net", "vfio_pci", "evdev", "virtio_pci"})
	require.NoError(t, err)
	require.Equal(t, []string{
		"uio", "uio_pci_generic",
		"virtio", "virtio_ring", "failover", "net_failover", "virtio_net",
		"vfio", "irqbypass", "vfio_pci_core", "vfio_pci",
		"evdev",
		"virtio_pci_modern_dev", "virtio_pci",
	}, names(mods))
	requireLoadOrder(t, mods)
	for _, m := range mods {
		require.FileExists(t, m.Path)
	}
	i := slices.IndexFunc(mods, func(m Module) bool { return m.Name == "vfio_pci" })
	require.Equal(t, []string{"vfio_pci_core", "vfio"}, mods[i].Depends, "depends= names are folded to '_'")
}

func TestResolveModulesBuiltin(t *testing.T) {
	dir := syntheticTree(t)
	mods, err := ResolveModules(dir, []string{"button", "needs_builtin"})
	require.NoError(t, err)
	require.Equal(t, []string{"needs_builtin"}, names(mods), "a built-in module needs no file and is not loaded")
}

func TestResolveModulesErrors(t *testing.T) {
	dir := syntheticTree(t)
	_, err := ResolveModules(dir, []string{"loop_a"})
	require.ErrorIs(t, err, ErrModuleCycle)
	require.ErrorContains(t, err, "loop_a -> loop_b -> loop_a")

	_, err = ResolveModules(dir, []string{"orphan"})
	require.ErrorIs(t, err, ErrModuleNotFound)
	require.ErrorContains(t, err, "gone (needed by orphan)")

	_, err = ResolveModules(dir, []string{"no_such_module"})
	require.ErrorIs(t, err, ErrModuleNotFound)

	_, err = ResolveModules(filepath.Join(dir, "missing"), []string{"uio"})
	require.Error(t, err)
}

// debianKernel returns Debian's kernel for arch: from the cache, or fetched when peers are
// required; otherwise the test skips.
func debianKernel(t *testing.T, arch Arch) Kernel {
	t.Helper()
	cacheDir, err := DefaultCacheDir()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if k, ok := CachedDebianKernel(ctx, arch, cacheDir); ok {
		return k
	}
	if !peers.Required() {
		peers.Missing(t, "Debian's "+string(arch)+" kernel in "+cacheDir+" (tests download it with apt-get only when peers are required)")
	}
	k, err := FetchDebianKernel(ctx, arch, cacheDir)
	require.NoError(t, err)
	return k
}

// TestDebianKernel checks Debian's kernel packages as unikit image uses them: the image boots
// the architecture it was fetched for, and the appliance's modules and Linux's virtio-net
// driver resolve in its module tree, which has no modules.dep.
func TestDebianKernel(t *testing.T) {
	for _, arch := range []Arch{AMD64, ARM64} {
		t.Run(string(arch), func(t *testing.T) {
			k := debianKernel(t, arch)
			got, err := KernelArch(k.Image)
			require.NoError(t, err)
			require.Equal(t, arch, got)
			require.NoFileExists(t, filepath.Join(k.Modules, "modules.dep"))

			require.NotEmpty(t, k.Modules)
			mods, err := ResolveModules(k.Modules, append(ApplianceModules(arch), KernelNetModules()...))
			require.NoError(t, err)
			requireLoadOrder(t, mods)
			loaded := names(mods)
			t.Logf("%s: %v", k.Package, loaded)
			tree, err := indexModuleTree(k.Modules)
			require.NoError(t, err)
			// The dependencies recorded for Debian 6.1 in the guest-VM notes; arm64 builds
			// virtio, virtio_ring and button into the kernel.
			for _, want := range []string{"uio", "uio_pci_generic", "button", "evdev", "virtio", "virtio_ring", "net_failover", "failover", "virtio_net", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci"} {
				if !tree.builtin[want] {
					require.Contains(t, loaded, want)
				}
			}
			i := slices.IndexFunc(mods, func(m Module) bool { return m.Name == "uio_pci_generic" })
			require.Equal(t, []string{"uio"}, mods[i].Depends)
		})
	}
}

func TestWantsKernelNet(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-net", "kernel"}, true},
		{[]string{"-title", "x", "--net=kernel"}, true},
		{[]string{"-net=kernel"}, true},
		{[]string{"--net", "kernel"}, true},
		{[]string{"-net", "virtio-pci"}, false},
		{[]string{"-net"}, false},
		{[]string{"-title", "kernel"}, false},
		{[]string{"--", "-net", "kernel"}, false},
	} {
		require.Equal(t, tc.want, WantsKernelNet(tc.args), "%q", tc.args)
	}
}
