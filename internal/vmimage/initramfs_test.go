package vmimage

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/unikit/unikit/guest/kmod"
)

// readInitramfs gunzips an initramfs and reads back its records, keyed by name, with their
// contents, and the names in archive order.
func readInitramfs(t *testing.T, gz []byte) (recs map[string]cpio.Record, contents map[string][]byte, order []string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	all, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	require.NoError(t, err)
	recs, contents = make(map[string]cpio.Record), make(map[string][]byte)
	for _, r := range all {
		recs[r.Name] = r
		order = append(order, r.Name)
		if r.Mode&cpio.S_IFMT == cpio.S_IFREG {
			b, err := io.ReadAll(io.NewSectionReader(r, 0, int64(r.FileSize)))
			require.NoError(t, err)
			contents[r.Name] = b
		}
	}
	return recs, contents, order
}

func TestInitramfsRoundTrip(t *testing.T) {
	dir := syntheticTree(t)
	mods, err := ResolveModules(dir, []string{"uio_pci_generic", "virtio_net"})
	require.NoError(t, err)
	init := []byte("\x7fELF pretend appliance")

	builtin, err := os.ReadFile(filepath.Join(dir, BuiltinFile))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteInitramfs(&buf, init, mods, builtin))
	recs, contents, order := readInitramfs(t, buf.Bytes())

	require.Equal(t, init, contents["init"])
	require.Equal(t, uint64(cpio.S_IFREG|0o755), recs["init"].Mode)
	console := recs["dev/console"]
	require.Equal(t, uint64(cpio.S_IFCHR|0o600), console.Mode)
	require.Equal(t, [2]uint64{5, 1}, [2]uint64{console.Rmajor, console.Rminor})
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "lib", "lib/modules", "lib/modules/unikit"} {
		require.Equal(t, uint64(cpio.S_IFDIR), recs[d].Mode&cpio.S_IFMT, d)
	}

	// Each module is there uncompressed, whatever its file was, and the guest runtime's
	// module loader finds every one and orders them dependencies first.
	var wantOrder string
	for _, m := range mods {
		name := filepath.Join("lib/modules/unikit", m.Name+".ko")
		want, err := readModuleFile(m.Path)
		require.NoError(t, err)
		require.Equal(t, want, contents[name], name)
		mi, err := parseModinfo(contents[name])
		require.NoError(t, err)
		require.Equal(t, m.Name, mi.name)
		wantOrder += m.Name + ".ko\n"
	}
	require.Equal(t, "uio.ko\nuio_pci_generic.ko\nvirtio.ko\nvirtio_ring.ko\nfailover.ko\nnet_failover.ko\nvirtio_net.ko\n", wantOrder)
	require.NotContains(t, contents, "lib/modules/unikit/load-order")
	require.Equal(t, builtin, contents["lib/modules/unikit/modules.builtin"])
	booted := t.TempDir()
	for name, b := range contents {
		if !strings.HasPrefix(name, "lib/modules/") {
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Join(booted, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(booted, name), b, 0o644))
	}
	ix, err := kmod.Scan(filepath.Join(booted, "lib/modules"))
	require.NoError(t, err)
	require.True(t, ix.Builtin("button"), "the guest knows the kernel's built-in modules from the copied list")
	loadOrder, err := ix.Order("uio_pci_generic", "virtio_net")
	require.NoError(t, err)
	var gotOrder string
	for _, m := range loadOrder {
		gotOrder += m.Name + ".ko\n"
	}
	require.Equal(t, wantOrder, gotOrder)

	// Parents come before what they hold, so the kernel never creates a file in a missing
	// directory; every record has a distinct inode and a zero mtime, uid and gid.
	seen := map[string]bool{}
	inodes := map[uint64]string{}
	for _, name := range order {
		if parent := filepath.Dir(name); parent != "." {
			require.True(t, seen[parent], "%s comes before its directory", name)
		}
		seen[name] = true
		r := recs[name]
		require.Zero(t, r.MTime, name)
		require.Zero(t, r.UID, name)
		require.Zero(t, r.GID, name)
		prev, dup := inodes[r.Ino]
		require.False(t, dup, "%s and %s share inode %d", name, prev, r.Ino)
		inodes[r.Ino] = name
	}
}

func TestInitramfsReproducible(t *testing.T) {
	dir := syntheticTree(t)
	mods, err := ResolveModules(dir, []string{"vfio-pci", "evdev"})
	require.NoError(t, err)
	var a, b bytes.Buffer
	require.NoError(t, WriteInitramfs(&a, []byte("appliance"), mods, nil))
	require.NoError(t, WriteInitramfs(&b, []byte("appliance"), mods, nil))
	require.Equal(t, a.Bytes(), b.Bytes())
}

func TestInitramfsWithoutModules(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteInitramfs(&buf, []byte("appliance"), nil, nil))
	_, contents, _ := readInitramfs(t, buf.Bytes())
	require.Equal(t, []byte("appliance"), contents["init"])
	for name := range contents {
		require.False(t, strings.HasSuffix(name, ".ko"), name)
	}
}
