package vmimage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeUnpackedKernel lays out what dpkg-deb -x leaves for a kernel package, with the tree's
// modification time set to when the package was built.
func fakeUnpackedKernel(t *testing.T, cacheDir, version, lib string, built time.Time) string {
	t.Helper()
	dir := filepath.Join(cacheDir, "linux-image-"+version)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "boot"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-"+version), []byte("kernel"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "boot", "config-"+version), []byte("CONFIG_X=y"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, lib, "modules", version, "kernel"), 0o755))
	require.NoError(t, os.Chtimes(dir, built, built))
	return dir
}

func TestNewestCachedKernel(t *testing.T) {
	cache := t.TempDir()
	now := time.Now()
	fakeUnpackedKernel(t, cache, "6.1.0-50-amd64", "lib", now.Add(-48*time.Hour))
	newest := fakeUnpackedKernel(t, cache, "6.1.0-57-amd64", "usr/lib", now.Add(-24*time.Hour))
	fakeUnpackedKernel(t, cache, "6.1.0-58-arm64", "lib", now)
	require.NoError(t, os.MkdirAll(filepath.Join(cache, ".fetch-123"), 0o755))

	k, ok := newestCachedKernel(AMD64, cache)
	require.True(t, ok)
	require.Equal(t, filepath.Join(newest, "boot", "vmlinuz-6.1.0-57-amd64"), k.Image)
	require.Equal(t, filepath.Join(newest, "usr/lib/modules/6.1.0-57-amd64"), k.Modules)
	require.Equal(t, "linux-image-6.1.0-57-amd64", k.Package)

	k, ok = newestCachedKernel(ARM64, cache)
	require.True(t, ok)
	require.Equal(t, "linux-image-6.1.0-58-arm64", k.Package)

	_, ok = newestCachedKernel(AMD64, filepath.Join(cache, "missing"))
	require.False(t, ok)
}

func TestUnpackedKernelNeedsOneImage(t *testing.T) {
	cache := t.TempDir()
	dir := fakeUnpackedKernel(t, cache, "6.1.0-57-amd64", "lib", time.Now())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-6.1.0-57-amd64.old"), []byte("k"), 0o644))
	_, err := unpackedKernel(dir, "linux-image-6.1.0-57-amd64")
	require.ErrorIs(t, err, ErrNoKernel)
	_, err = unpackedKernel(filepath.Join(cache, "missing"), "x")
	require.ErrorIs(t, err, ErrNoKernel)
}
