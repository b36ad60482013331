package vmimage

import (
	"context"
	"debug/pe"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unikit/unikit/internal/peers"
)

// efiStub returns systemd-stub for arch after checking objcopy can write its images; it is
// fetched only when peers are required.
func efiStub(t *testing.T, arch Arch) string {
	t.Helper()
	ctx := context.Background()
	if _, err := objcopyFor(ctx, arch); err != nil {
		peers.Missing(t, err.Error())
	}
	if _, err := os.Stat(filepath.Join(systemStubDir, arch.efiStubName())); err != nil && !peers.Required() {
		peers.Missing(t, "systemd-stub "+arch.efiStubName()+" (apt-get install systemd-boot-efi:"+string(arch)+")")
	}
	cacheDir, err := DefaultCacheDir()
	require.NoError(t, err)
	stub, err := FindEFIStub(ctx, arch, cacheDir)
	require.NoError(t, err)
	return stub
}

func TestWriteUKI(t *testing.T) {
	for _, arch := range []Arch{AMD64, ARM64} {
		t.Run(string(arch), func(t *testing.T) {
			stub := efiStub(t, arch)
			dir := t.TempDir()
			kernelPath, kernel := fakeUKI(t, 3<<20+123)
			initrdPath, initrd := fakeUKI(t, 1<<20+45)
			cmdline := "console=" + arch.Console() + " panic=-1 quiet -- -net virtio-pci"
			out := filepath.Join(dir, "uki.efi")
			require.NoError(t, WriteUKI(context.Background(), arch, UKI{
				Stub: stub, Kernel: kernelPath, Initrd: initrdPath, Cmdline: cmdline,
			}, out))

			f, err := pe.Open(out)
			require.NoError(t, err)
			defer f.Close()
			h := f.OptionalHeader.(*pe.OptionalHeader64)
			want := map[string][]byte{
				".osrel":   []byte("NAME=unikit\nID=unikit\nPRETTY_NAME=\"unikit appliance\"\n"),
				".cmdline": []byte(cmdline),
				".linux":   kernel,
				".initrd":  initrd,
			}
			type span struct {
				name       string
				start, end uint64
			}
			var spans []span
			for _, s := range f.Sections {
				spans = append(spans, span{s.Name, uint64(s.VirtualAddress), uint64(s.VirtualAddress) + uint64(s.VirtualSize)})
				w, ok := want[s.Name]
				if !ok {
					continue
				}
				delete(want, s.Name)
				data, err := s.Data()
				require.NoError(t, err)
				require.Equal(t, uint32(len(w)), s.VirtualSize, s.Name)
				require.Equal(t, w, data[:len(w)], s.Name)
				require.Zero(t, s.VirtualAddress%ukiSectionAlign, s.Name)
			}
			require.Empty(t, want, "sections missing")
			for i, a := range spans {
				require.LessOrEqual(t, a.end, uint64(h.SizeOfImage), a.name)
				for _, b := range spans[i+1:] {
					require.True(t, a.end <= b.start || b.end <= a.start, "%s overlaps %s", a.name, b.name)
				}
			}
		})
	}
}

func TestFindEFIStubFetches(t *testing.T) {
	if !peers.Required() {
		peers.Missing(t, "a Debian package mirror for apt-get download (this test runs only when peers are required)")
	}
	cacheDir := t.TempDir()
	for _, arch := range []Arch{AMD64, ARM64} {
		stub, err := findEFIStub(context.Background(), arch, cacheDir, filepath.Join(cacheDir, "not-installed"))
		require.NoError(t, err)
		f, err := pe.Open(stub)
		require.NoError(t, err)
		machine := map[Arch]uint16{AMD64: pe.IMAGE_FILE_MACHINE_AMD64, ARM64: pe.IMAGE_FILE_MACHINE_ARM64}[arch]
		require.Equal(t, machine, f.Machine)
		f.Close()
		again, err := findEFIStub(context.Background(), arch, cacheDir, filepath.Join(cacheDir, "not-installed"))
		require.NoError(t, err)
		require.Equal(t, stub, again, "the second call finds the cached stub")
	}
}
