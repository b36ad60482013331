package vmimage

import (
	"context"
	"debug/elf"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildAppliance(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a program for two architectures")
	}
	for arch, machine := range map[Arch]elf.Machine{AMD64: elf.EM_X86_64, ARM64: elf.EM_AARCH64} {
		t.Run(string(arch), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "init")
			require.NoError(t, BuildAppliance(context.Background(), ".", "./testdata/static", arch, out))
			f, err := elf.Open(out)
			require.NoError(t, err)
			defer f.Close()
			require.Equal(t, machine, f.Machine)
			require.Equal(t, elf.ET_EXEC, f.Type, "a static executable, not a position-independent one")
			for _, p := range f.Progs {
				require.NotEqual(t, elf.PT_INTERP, p.Type)
			}
			require.Nil(t, f.Section(".symtab"), "stripped")
		})
	}
}

func TestBuildApplianceFails(t *testing.T) {
	err := BuildAppliance(context.Background(), ".", "./testdata/no-such-package", AMD64, filepath.Join(t.TempDir(), "init"))
	require.ErrorContains(t, err, "go build ./testdata/no-such-package for linux/amd64")
}
