package vmimage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseArch(t *testing.T) {
	for _, s := range []string{"amd64", "arm64"} {
		a, err := ParseArch(s)
		require.NoError(t, err)
		require.Equal(t, Arch(s), a)
	}
	for _, s := range []string{"", "x86_64", "aarch64", "arm", "riscv64"} {
		_, err := ParseArch(s)
		require.ErrorIs(t, err, ErrUnknownArch, s)
	}
	require.Equal(t, "ttyS0", AMD64.Console())
	require.Equal(t, "ttyAMA0", ARM64.Console())
	require.Equal(t, "/EFI/BOOT/BOOTX64.EFI", AMD64.EFIBootFile())
	require.Equal(t, "/EFI/BOOT/BOOTAA64.EFI", ARM64.EFIBootFile())
}

func TestKernelArch(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	bz := make([]byte, 0x400)
	copy(bz[0x202:], "HdrS")
	img := make([]byte, 0x400)
	copy(img[0x38:], "ARM\x64")

	a, err := KernelArch(write("bzImage", bz))
	require.NoError(t, err)
	require.Equal(t, AMD64, a)
	a, err = KernelArch(write("Image", img))
	require.NoError(t, err)
	require.Equal(t, ARM64, a)

	_, err = KernelArch(write("junk", make([]byte, 0x400)))
	require.ErrorIs(t, err, ErrUnknownArch)
	_, err = KernelArch(write("short", []byte("HdrS")))
	require.ErrorIs(t, err, ErrUnknownArch)
	_, err = KernelArch(filepath.Join(dir, "missing"))
	require.Error(t, err)
}
