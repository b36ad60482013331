package vmimage

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"github.com/unikit/unikit/guest/kmod"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

// moduleObject returns a minimal ELF64 relocatable object, as a kernel module is, whose
// .modinfo section holds the given key=value entries NUL-separated, as modpost writes them.
func moduleObject(t testing.TB, entries ...string) []byte {
	t.Helper()
	var modinfo bytes.Buffer
	for _, e := range entries {
		modinfo.WriteString(e)
		modinfo.WriteByte(0)
	}
	shstrtab := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modinfoOff := uint64(ehsize)
	shstrOff := modinfoOff + uint64(modinfo.Len())
	shOff := (shstrOff + uint64(len(shstrtab)) + 7) &^ 7

	var b bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shentsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	require.NoError(t, binary.Write(&b, binary.LittleEndian, hdr))
	b.Write(modinfo.Bytes())
	b.Write(shstrtab)
	b.Write(make([]byte, shOff-uint64(b.Len())))
	sections := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: modinfoOff, Size: uint64(modinfo.Len()), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: shstrOff, Size: uint64(len(shstrtab)), Addralign: 1},
	}
	for _, s := range sections {
		require.NoError(t, binary.Write(&b, binary.LittleEndian, s))
	}
	return b.Bytes()
}

// writeModule writes a synthetic module at path, compressed as its suffix says, with the
// given depends= list (comma-separated) in its .modinfo.
func writeModule(t testing.TB, path, depends string) {
	t.Helper()
	name := kmod.Normalize(moduleFileName(filepath.Base(path)))
	obj := moduleObject(t, "license=GPL", "depends="+depends, "name="+name, "vermagic=6.1.0 SMP mod_unload")
	var out bytes.Buffer
	switch {
	case strings.HasSuffix(path, ".ko.gz"):
		w := gzip.NewWriter(&out)
		_, err := w.Write(obj)
		require.NoError(t, err)
		require.NoError(t, w.Close())
	case strings.HasSuffix(path, ".ko.xz"):
		w, err := xz.NewWriter(&out)
		require.NoError(t, err)
		_, err = w.Write(obj)
		require.NoError(t, err)
		require.NoError(t, w.Close())
	case strings.HasSuffix(path, ".ko.zst"):
		w, err := zstd.NewWriter(&out)
		require.NoError(t, err)
		_, err = w.Write(obj)
		require.NoError(t, err)
		require.NoError(t, w.Close())
	default:
		out.Write(obj)
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
}

func TestParseModinfo(t *testing.T) {
	mi, err := parseModinfo(moduleObject(t, "alias=pci:v1AF4*", "depends=virtio_ring,virtio,net-failover", "name=virtio_net"))
	require.NoError(t, err)
	require.Equal(t, "virtio_net", mi.name)
	require.Equal(t, []string{"virtio_ring", "virtio", "net_failover"}, mi.depends)

	mi, err = parseModinfo(moduleObject(t, "depends=", "name=uio"))
	require.NoError(t, err)
	require.Empty(t, mi.depends)

	_, err = parseModinfo([]byte("not an ELF object at all"))
	require.ErrorIs(t, err, ErrBadModule)

	noModinfo := moduleObject(t)
	// Rename the section so the object has none called .modinfo.
	noModinfo = bytes.Replace(noModinfo, []byte(".modinfo\x00"), []byte(".modjunk\x00"), 1)
	_, err = parseModinfo(noModinfo)
	require.ErrorIs(t, err, ErrBadModule)
}
