package kmod

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeModule writes a synthetic module called name with the given dependencies under dir.
func writeModule(t *testing.T, dir, rel, name string, depends string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	entries := []string{"license=GPL", "depends=" + depends}
	if name != "" {
		entries = append(entries, "name="+name)
	}
	require.NoError(t, os.WriteFile(path, moduleELF(t, entries...), 0o644))
}

func names(ms []Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestOrder(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "kernel/drivers/uio/uio.ko", "uio", "")
	writeModule(t, dir, "kernel/drivers/uio/uio_pci_generic.ko", "uio_pci_generic", "uio")
	writeModule(t, dir, "kernel/drivers/net/virtio_net.ko", "virtio_net", "virtio_ring,virtio,net_failover")
	writeModule(t, dir, "kernel/drivers/net/net_failover.ko", "net_failover", "failover")
	writeModule(t, dir, "kernel/net/core/failover.ko", "failover", "")
	writeModule(t, dir, "kernel/drivers/virtio/virtio_ring.ko", "virtio_ring", "")
	writeModule(t, dir, "kernel/drivers/virtio/virtio.ko", "virtio", "")
	writeModule(t, dir, "vfio-pci.ko", "", "vfio-pci-core") // no name=: the file name counts
	writeModule(t, dir, "vfio-pci-core.ko", "vfio_pci_core", "vfio")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules.builtin"),
		[]byte("kernel/drivers/vfio/vfio.ko\nkernel/fs/hugetlbfs.ko\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "modules.order"), []byte("ignored\n"), 0o644))

	ix, err := Scan(dir)
	require.NoError(t, err)
	assert.Len(t, ix.Modules(), 9)

	order, err := ix.Order("uio_pci_generic", "virtio-net", "uio")
	require.NoError(t, err)
	assert.Equal(t, []string{"uio", "uio_pci_generic", "virtio_ring", "virtio", "failover", "net_failover",
		"virtio_net"}, names(order))

	order, err = ix.Order("vfio_pci", "hugetlbfs")
	require.NoError(t, err)
	assert.Equal(t, []string{"vfio_pci_core", "vfio_pci"}, names(order), "built-in vfio and hugetlbfs are not loaded")
	assert.True(t, ix.Builtin("vfio"))

	_, err = ix.Order("e1000")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestOrderMissingDependency(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "a.ko", "a", "b")
	ix, err := Scan(dir)
	require.NoError(t, err)
	_, err = ix.Order("a")
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "b (needed by a)")
}

func TestOrderCycle(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "a.ko", "a", "b")
	writeModule(t, dir, "b.ko", "b", "c")
	writeModule(t, dir, "c.ko", "c", "a")
	ix, err := Scan(dir)
	require.NoError(t, err)
	_, err = ix.Order("a")
	require.ErrorIs(t, err, ErrCycle)
}

func TestScanRefuses(t *testing.T) {
	t.Run("not a module", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "x.ko"), []byte("text"), 0o644))
		_, err := Scan(dir)
		require.ErrorIs(t, err, ErrNotModule)
	})
	t.Run("duplicate", func(t *testing.T) {
		dir := t.TempDir()
		writeModule(t, dir, "one/a.ko", "a", "")
		writeModule(t, dir, "two/a.ko", "a", "")
		_, err := Scan(dir)
		require.ErrorContains(t, err, "module a in both")
	})
	t.Run("bad names", func(t *testing.T) {
		for _, tc := range []struct{ name, depends string }{{"../../etc", ""}, {"a", "b/c"}} {
			dir := t.TempDir()
			writeModule(t, dir, "a.ko", tc.name, tc.depends)
			_, err := Scan(dir)
			require.ErrorIs(t, err, ErrNotModule)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := Scan(filepath.Join(t.TempDir(), "nope"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

// lazySource is a Source that reads nothing until asked, as an image builder's view of a
// whole module tree does; it counts the lookups.
type lazySource struct {
	deps    map[string][]string
	builtin map[string]bool
	lookups map[string]int
}

func (s *lazySource) Lookup(name string) (Module, bool, error) {
	s.lookups[name]++
	d, ok := s.deps[name]
	return Module{Name: name, Path: name + ".ko", Depends: d}, ok, nil
}

func (s *lazySource) Builtin(name string) bool { return s.builtin[name] }

func TestOrderSource(t *testing.T) {
	src := &lazySource{
		deps: map[string][]string{
			"virtio_net": {"virtio_ring", "virtio", "net_failover"}, "virtio_ring": {"virtio"},
			"virtio": nil, "net_failover": {"failover"}, "failover": nil, "unrelated": nil,
			"x": {"y"}, "y": {"gone"}, "c1": {"c2"}, "c2": {"c3"}, "c3": {"c1"},
		},
		builtin: map[string]bool{"virtio": true},
		lookups: map[string]int{},
	}
	order, err := Order(src, "virtio-net", "virtio_ring")
	require.NoError(t, err)
	assert.Equal(t, []string{"virtio_ring", "failover", "net_failover", "virtio_net"}, names(order))
	assert.Zero(t, src.lookups["unrelated"], "only the modules asked for and their dependencies are read")
	assert.Equal(t, 1, src.lookups["virtio_ring"], "each module is read once")

	_, err = Order(src, "x")
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "gone (needed by x -> y)")

	_, err = Order(src, "c1")
	require.ErrorIs(t, err, ErrCycle)
	assert.Contains(t, err.Error(), "c1 -> c2 -> c3 -> c1")
}
