package vmimage

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Disk layout, in bytes. The ESP starts at 1 MiB, where partitioning tools align the first
// partition; the last MiB holds the backup GPT (33 sectors) with room to spare.
const (
	mib            = 1 << 20
	sectorSize     = 512
	espStart       = 1 * mib
	diskTailMargin = 1 * mib
	// minESPSize is the smallest ESP this package writes. A FAT file system is FAT32 only with
	// at least 65525 clusters (Microsoft's FAT specification, "FAT type determination"), and
	// firmware decides the type by that count; go-diskfs uses 512-byte clusters below 260 MB,
	// so 65525 clusters, two FATs and the reserved sectors need a little over 32 MiB.
	minESPSize = 40 * mib
)

// WriteDisk writes a raw disk image at out that UEFI firmware boots on its own: a GPT with a
// protective MBR and one EFI system partition, formatted FAT32, holding the unified kernel
// image uki as arch's removable-media boot file (EFIBootFile). The disk is a whole number of
// MiB and its file is sparse. Its GUIDs are derived from the UKI's digest, so the same UKI
// gives the same partition table; the FAT timestamps follow SOURCE_DATE_EPOCH when it is set.
func WriteDisk(out string, arch Arch, uki string) error {
	content, err := os.ReadFile(uki)
	if err != nil {
		return err
	}
	espSize := max(minESPSize, int64(alignUp(uint64(len(content)+len(content)/16+4*mib), mib)))
	size := espStart + espSize + diskTailMargin

	tmp := out + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := writeDisk(tmp, size, espSize, arch, content); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vmimage: writing the disk image: %w", err)
	}
	return os.Rename(tmp, out)
}

// writeDisk creates the disk file of the given size at p and fills it.
func writeDisk(p string, size, espSize int64, arch Arch, content []byte) (err error) {
	d, err := diskfs.Create(p, size, diskfs.SectorSizeDefault)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.Close(); err == nil {
			err = cerr
		}
	}()
	digest := sha256.Sum256(content)
	table := &gpt.Table{
		ProtectiveMBR:      true,
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		GUID:               guidFrom(digest[0:16]),
		Partitions: []*gpt.Partition{{
			Index: 1,
			Start: espStart / sectorSize,
			End:   uint64(espStart+espSize)/sectorSize - 1,
			Type:  gpt.EFISystemPartition,
			Name:  "EFI System Partition",
			GUID:  guidFrom(digest[16:32]),
		}},
	}
	if err := d.Partition(table); err != nil {
		return err
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{
		Partition:    1,
		FSType:       filesystem.TypeFat32,
		VolumeLabel:  "UNIKIT",
		Reproducible: true,
	})
	if err != nil {
		return err
	}
	defer fs.Close()
	bootFile := arch.EFIBootFile()
	if err := fs.Mkdir(path.Dir(bootFile)); err != nil {
		return err
	}
	f, err := fs.OpenFile(bootFile, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// guidFrom formats 16 bytes as a GUID string, marked as a random (version 4, RFC 4122
// variant) GUID as tools expect.
func guidFrom(b []byte) string {
	var g [16]byte
	copy(g[:], b)
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}
