package vmimage

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildWithOwnKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two images")
	}
	k := debianKernel(t, AMD64)
	efiStub(t, AMD64)
	cfg := Config{
		Package:      "./testdata/static",
		Args:         []string{"-net", "kernel"},
		Kernel:       k.Image,
		Modules:      k.Modules,
		ExtraModules: KernelNetModules(),
	}
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	im, err := Build(context.Background(), cfg, dirA)
	require.NoError(t, err)
	require.Equal(t, AMD64, im.Arch)
	require.Equal(t, "console=ttyS0 panic=-1 quiet no_timer_check unikit.args=-net,kernel,", im.Cmdline)
	require.Contains(t, names(im.Modules), "virtio_net")
	requireLoadOrder(t, im.Modules)

	opened, err := OpenImage(dirA)
	require.NoError(t, err)
	mods := im.Modules
	im.Modules = nil // OpenImage does not read the initramfs
	require.Equal(t, im, opened)

	initrd, err := os.ReadFile(im.Initrd)
	require.NoError(t, err)
	_, contents, _ := readInitramfs(t, initrd)
	require.Len(t, mods, 12)
	for _, m := range names(mods) {
		require.Contains(t, contents, "lib/modules/unikit/"+m+".ko")
	}

	_, err = Build(context.Background(), cfg, dirB)
	require.NoError(t, err)
	again, err := os.ReadFile(filepath.Join(dirB, InitrdFile))
	require.NoError(t, err)
	require.Equal(t, initrd, again, "the same appliance and modules give the same initramfs")
}

func TestBuildRefusesAKernelOfAnotherArchitecture(t *testing.T) {
	k := debianKernel(t, AMD64)
	_, err := Build(context.Background(), Config{Package: "./testdata/static", Arch: ARM64, Kernel: k.Image}, t.TempDir())
	require.ErrorIs(t, err, ErrUnknownArch)
	require.ErrorContains(t, err, "boots amd64, the image is for arm64")
}
