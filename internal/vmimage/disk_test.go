package vmimage

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/stretchr/testify/require"
)

// fakeUKI writes n bytes that stand for a unified kernel image.
func fakeUKI(t *testing.T, n int) (string, []byte) {
	t.Helper()
	content := make([]byte, n)
	for i := 0; i < n; i += sha256.Size {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		copy(content[i:], sum[:])
	}
	p := filepath.Join(t.TempDir(), "uki.efi")
	require.NoError(t, os.WriteFile(p, content, 0o644))
	return p, content
}

func TestWriteDisk(t *testing.T) {
	for _, tc := range []struct {
		arch   Arch
		ukiLen int
	}{
		{AMD64, 9 << 20},
		{ARM64, 40 << 20}, // arm64 kernels are uncompressed: a UKI above the minimum ESP
	} {
		t.Run(string(tc.arch), func(t *testing.T) {
			uki, content := fakeUKI(t, tc.ukiLen)
			out := filepath.Join(t.TempDir(), "disk.img")
			require.NoError(t, WriteDisk(out, tc.arch, uki))

			fi, err := os.Stat(out)
			require.NoError(t, err)
			require.Zero(t, fi.Size()%mib, "a whole number of MiB")

			d, err := diskfs.Open(out, diskfs.WithOpenMode(diskfs.ReadOnly))
			require.NoError(t, err)
			defer d.Close()
			pt, err := d.GetPartitionTable()
			require.NoError(t, err)
			table, ok := pt.(*gpt.Table)
			require.True(t, ok, "a GPT")
			require.True(t, table.ProtectiveMBR)
			require.Len(t, table.Partitions, 1)
			esp := table.Partitions[0]
			require.Equal(t, gpt.EFISystemPartition, esp.Type)
			require.Equal(t, uint64(espStart/sectorSize), esp.Start)
			espBytes := int64(esp.End-esp.Start+1) * sectorSize
			require.GreaterOrEqual(t, espBytes, int64(minESPSize))
			require.Greater(t, espBytes, int64(tc.ukiLen))

			fs, err := d.GetFilesystem(1)
			require.NoError(t, err)
			require.Equal(t, filesystem.TypeFat32, fs.Type())
			f, err := fs.OpenFile(tc.arch.EFIBootFile(), os.O_RDONLY)
			require.NoError(t, err)
			got, err := io.ReadAll(f)
			require.NoError(t, err)
			require.True(t, bytes.Equal(content, got), "the boot file holds the UKI")
		})
	}
}

func TestWriteDiskTableReproducible(t *testing.T) {
	uki, _ := fakeUKI(t, 1<<20)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	require.NoError(t, WriteDisk(a, AMD64, uki))
	require.NoError(t, WriteDisk(b, AMD64, uki))
	// The protective MBR, the GPT header and its entries sit in the first 34 sectors.
	head := func(p string) []byte {
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		buf := make([]byte, 34*sectorSize)
		_, err = io.ReadFull(f, buf)
		require.NoError(t, err)
		return buf
	}
	require.Equal(t, head(a), head(b))
	require.NoError(t, WriteDisk(a, AMD64, uki), "an existing image is replaced")
}
